"""The lab's Kubernetes API stand-in: one HTTPS listener, one path prefix per cluster.

A cluster is served at ``https://127.0.0.1:<port>/clusters/<region>/<name>``; below that
prefix the paths are those of a real API server (``/api/v1/...``, ``/apis/...``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from kom_async.lab import podexec, podlogs, portforward, tables, writes
from kom_async.lab.authn import Authenticator, authorize
from kom_async.lab.listen import InFlight, listen_loopback
from kom_async.lab.patch import PatchError
from kom_async.lab.podparams import query_int
from kom_async.lab.resources import ResourceType
from kom_async.lab.selectors import SelectorError, parse_field_selector, parse_label_selector
from kom_async.lab.state import ClusterState, LabUser
from kom_async.lab.status import ApiError
from kom_async.lab.watches import serve_watch

_MAX_HEADER_BYTES = 1 << 20

log = logging.getLogger("kom_async.lab.apiserver")
Obj = dict[str, Any]
STREAMING_SUBRESOURCES = frozenset({"exec", "portforward"})  # authorized as "create", like RBAC
ANONYMOUS_PATHS = frozenset({"/version", "/healthz", "/readyz", "/livez"})
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-eks-lab",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
"""The media type of aggregated discovery, asked for in ``Accept`` and answered as ``Content-Type``."""


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )


@dataclass(frozen=True, slots=True)
class Target:
    """What a resource path addresses."""

    rt: ResourceType
    namespace: str
    name: str
    sub: str


def _replicas_of(scale: Any) -> Any:
    spec = scale.get("spec") if isinstance(scale, dict) else None
    return spec.get("replicas") if isinstance(spec, dict) else None


class KubeAPIServer:
    """Serves every lab cluster over one TLS listener on 127.0.0.1."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        authenticator: Authenticator,
        now: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._ssl = ssl_context
        self.authenticator = authenticator
        self._now = now
        self._sleep = sleep  # what a simulated ``sleep`` in an exec waits on (the lab's clock)
        self.clusters: dict[tuple[str, str], ClusterState] = {}
        self._runner: web.AppRunner | None = None
        self._watch_tasks: set[asyncio.Task[Any]] = set()
        self._in_flight = InFlight()  # requests being served, for stop()
        self.base_url = ""
        #: (region, name) of the cluster also served at "/" (an in-cluster client's view)
        self.root_cluster: tuple[str, str] | None = None

    async def start(self) -> None:
        """Listen on a free port."""
        app = web.Application(client_max_size=8 * 1024 * 1024)
        handle = self._in_flight.track(self._handle)
        app.router.add_route("*", "/clusters/{region}/{name}{path:(/.*)?}", handle)
        app.router.add_route("*", "/{path:.*}", handle)  # the root cluster, if one is set
        # handler_cancellation: a client that goes away ends what it started (follows, execs);
        # header lines up to 1 MiB like kube-apiserver (Go's DefaultMaxHeaderBytes), so an oversized
        # bearer token is answered 401 as a real server would, not echoed into aiohttp's error log
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=1.0,
            handler_cancellation=True,
            max_line_size=_MAX_HEADER_BYTES,
            max_field_size=_MAX_HEADER_BYTES,
        )
        await runner.setup()
        self._runner = runner
        port = await listen_loopback(runner, self._ssl)
        self.base_url = f"https://127.0.0.1:{port}"

    async def stop(self) -> None:
        """End open watches, cancel and await requests still being served, stop listening."""
        for state in self.clusters.values():
            state.store.drop_watches()
        await self._in_flight.cancel()  # e.g. a handler sleeping in a 'delay' fault
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url_for(self, region: str, name: str) -> str:
        """The server URL of one cluster."""
        return f"{self.base_url}/clusters/{region}/{name}"

    # -- request entry ----------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if "region" in request.match_info:
            region, name = request.match_info["region"], request.match_info["name"]
            path = request.match_info.get("path") or "/"
        elif self.root_cluster is not None:  # served at "/", as a pod sees its own cluster
            (region, name), path = self.root_cluster, "/" + request.match_info.get("path", "")
        else:
            return _json(ApiError(404, "no lab cluster is served at the root").body, 404)
        path = path.rstrip("/") or "/"  # /version/ too
        state = self.clusters.get((region, name))
        if state is None:
            return _json(ApiError(404, f"no lab cluster {region}/{name}").body, 404)
        state.stats.requests += 1
        fault = state.fault
        if fault is not None and fault.take():
            state.stats.faults_injected += 1
            if fault.exhausted:
                state.fault = None
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.unavailable:
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=503)  # never sent: the connection is gone
            if fault.status is not None:
                err = ApiError(fault.status, "lab fault injected")
                return _json(err.body, fault.status, fault.retry_after_header())
        try:
            user = self._authenticate(state, request, path)
            return await self._route(state, request, path, user)
        except ApiError as exc:
            if exc.code == 401:
                state.stats.unauthorized += 1
            elif exc.code == 403:
                state.stats.forbidden += 1
            return _json(exc.body, exc.code, exc.headers)
        except SelectorError as exc:
            err = ApiError(400, str(exc), reason="BadRequest")
            return _json(err.body, 400)
        except PatchError as exc:
            err = ApiError(exc.code, str(exc), reason="BadRequest" if exc.code == 400 else "Invalid")
            return _json(err.body, exc.code)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("lab API server failed on %s %s", request.method, path)
            err = ApiError(500, "internal error in the lab API server")
            return _json(err.body, 500)

    def _authenticate(self, state: ClusterState, request: web.Request, path: str) -> LabUser | None:
        header = request.headers.get("Authorization")
        if header is None:
            if path in ANONYMOUS_PATHS:
                return None
            state.stats.tokens_rejected += 1
            state.stats.rejections["no credentials"] += 1
            raise ApiError(401, "Unauthorized", reason="Unauthorized")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            state.stats.tokens_rejected += 1
            state.stats.rejections["not a bearer token"] += 1
            raise ApiError(401, "Unauthorized", reason="Unauthorized")
        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        return self.authenticator.authenticate(state, token.strip(), upgrade=upgrade)

    async def _route(
        self, state: ClusterState, request: web.Request, path: str, user: LabUser | None
    ) -> web.StreamResponse:
        segs = [s for s in path.split("/") if s]
        if request.method == "GET":
            if path in ("/healthz", "/readyz", "/livez"):
                return web.Response(text="ok")
            if path == "/version":
                return _json(VERSION)
        if user is None:
            raise ApiError(401, "Unauthorized", reason="Unauthorized")
        if request.method == "GET":
            aggregated = self._aggregated_discovery(state, segs, request.headers.get("Accept", ""))
            if aggregated is not None:
                return aggregated
            doc = self._discovery(state, segs)
            if doc is not None:
                return _json(doc)
        if segs[:1] == ["api"] and len(segs) >= 3 and segs[1] == "v1":
            group, version, rest = "", "v1", segs[2:]
        elif segs[:1] == ["apis"] and len(segs) >= 4:
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise ApiError(404, "the server could not find the requested resource")
        target = self._target(state, group, version, rest)
        verb = "create" if target.sub in STREAMING_SUBRESOURCES else self._verb(request, target)
        state.stats.verbs[verb] += 1
        if not authorize(user, verb):
            raise ApiError(
                403,
                f'{target.rt.plural} is forbidden: User "{user.username}" cannot {verb} '
                f'resource "{target.rt.plural}"',
                reason="Forbidden",
            )
        return await self._dispatch(state, request, target, verb)

    @staticmethod
    def _aggregated_discovery(state: ClusterState, segs: list[str], accept: str) -> web.Response | None:
        """``/api`` or ``/apis`` as one aggregated document, when the client asks for v2 (as
        kubectl and kom-async do) and the cluster serves it (1.30+; see ``legacy_discovery``)."""
        if segs not in (["api"], ["apis"]) or not state.aggregated_discovery:
            return None
        wanted = AGGREGATED_V2.replace(" ", "")
        if not any(part.replace(" ", "") == wanted for part in accept.split(",")):
            return None
        doc = state.types.aggregated(core=segs == ["api"])
        response = web.Response(text=json.dumps(doc, separators=(",", ":")))
        response.headers["Content-Type"] = AGGREGATED_V2  # aiohttp's content_type= drops parameters
        return response

    def _discovery(self, state: ClusterState, segs: list[str]) -> Obj | None:
        types = state.types
        if segs == ["api"]:
            return types.api_versions()
        if segs == ["api", "v1"]:
            return types.resource_list("", "v1")
        if segs == ["apis"]:
            return types.api_group_list()
        if len(segs) == 2 and segs[0] == "apis":
            if not types.versions(segs[1]):
                raise ApiError(404, "the server could not find the requested resource")
            return types.api_group(segs[1])
        if len(segs) == 3 and segs[0] == "apis":
            doc = types.resource_list(segs[1], segs[2])
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource")
            return doc
        return None

    def _target(self, state: ClusterState, group: str, version: str, rest: list[str]) -> Target:
        def find(plural: str) -> ResourceType:
            rt = state.types.find(group, version, plural)
            if rt is None:
                raise ApiError(404, "the server could not find the requested resource")
            return rt

        if rest[0] == "namespaces" and len(rest) >= 3:
            rt = state.types.find(group, version, rest[2])
            if rt is not None and rt.namespaced:
                if len(rest) > 5:
                    raise ApiError(404, "the server could not find the requested resource")
                return Target(rt, rest[1], rest[3] if len(rest) > 3 else "", rest[4] if len(rest) > 4 else "")
        if len(rest) > 3:
            raise ApiError(404, "the server could not find the requested resource")
        rt = find(rest[0])
        if rt.namespaced and len(rest) > 1:
            raise ApiError(404, "the server could not find the requested resource")
        target = Target(rt, "", rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")
        if target.sub and target.sub not in rt.subresources:
            raise ApiError(404, "the server could not find the requested resource")
        return target

    @staticmethod
    def _verb(request: web.Request, target: Target) -> str:
        method = request.method
        if method == "GET":
            if target.name:
                return "get"
            return "watch" if request.query.get("watch") in ("1", "true") else "list"
        if method == "POST" and not target.name:
            return "create"
        if method == "PUT" and target.name:
            return "update"
        if method == "PATCH" and target.name:
            return "patch"
        if method == "DELETE":
            return "delete" if target.name else "deletecollection"
        raise ApiError(405, f"the server does not allow this method ({method}) on the resource")

    # -- verbs ----------------------------------------------------------------------
    async def _dispatch(
        self, state: ClusterState, request: web.Request, target: Target, verb: str
    ) -> web.StreamResponse:
        rt = target.rt
        if target.sub:
            if target.sub not in rt.subresources:
                raise ApiError(404, "the server could not find the requested resource")
            return await self._subresource(state, request, target, verb)
        if rt.namespaced and not target.namespace and verb in ("create", "deletecollection"):
            raise ApiError(405, f"the server does not allow this method ({request.method}) on the resource")
        if rt.namespaced and target.namespace and verb in ("create", "update", "patch"):
            ns_rt = state.types.find("", "v1", "namespaces")
            assert ns_rt is not None
            if not state.store.exists(ns_rt, "", target.namespace):
                raise ApiError.not_found("namespaces", target.namespace)
        if verb == "get":
            obj = state.store.get(rt, target.namespace, target.name)
            return self._respond_object(request, rt, obj)
        if verb == "list":
            return self._list(state, request, target)
        if verb == "watch":
            return await serve_watch(state, request, target.rt, target.namespace)
        ctx = writes.WriteContext.of(request, self._now())
        if verb == "create":
            body = await writes.read_body(request)
            return _json(writes.create(state, rt, target.namespace, body, ctx), 201)
        if verb == "update":
            body = await writes.read_body(request)
            return _json(writes.update(state, rt, target.namespace, target.name, body, ctx))
        if verb == "patch":
            obj, created = await writes.patch(state, request, rt, target.namespace, target.name, ctx)
            return _json(obj, 201 if created else 200)
        if verb == "delete":
            return _json(writes.delete(state, rt, target.namespace, target.name, ctx))
        # deletecollection: every match, one by one, as the real server does
        match = self._matcher(request)
        deleted = [
            writes.delete(state, rt, o["metadata"].get("namespace", ""), o["metadata"]["name"], ctx)
            for o in list(state.store.iter(rt, target.namespace or None))
            if match(o)
        ]
        return _json(self._list_body(rt, deleted, state.store.resource_version))

    # -- lists and tables ----------------------------------------------------
    @staticmethod
    def _list_body(
        rt: ResourceType, items: list[Obj], rv: int, token: str | None = None, remaining: int = 0
    ) -> Obj:
        meta: Obj = {"resourceVersion": str(rv)}
        if token:
            meta["continue"] = token
            if remaining:
                meta["remainingItemCount"] = remaining
        return {"kind": f"{rt.kind}List", "apiVersion": rt.group_version, "metadata": meta, "items": items}

    @staticmethod
    def _matcher(request: web.Request) -> Callable[[Obj], bool]:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"))
        return lambda o: labels(o["metadata"].get("labels") or {}) and fields(o)

    def _list(self, state: ClusterState, request: web.Request, target: Target) -> web.StreamResponse:
        rt = target.rt
        page = state.pager.page(
            state.store,
            rt,
            target.namespace or None,
            self._matcher(request),
            query_int(request, "limit"),
            request.query.get("continue") or None,
        )
        if tables.wants_table(request):
            return _json(tables.table(rt, page.items, str(page.rv), self._now()))
        selective = request.query.get("labelSelector") or request.query.get("fieldSelector")
        remaining = 0 if selective else page.remaining  # unknown with selectors, as in a real server
        return _json(self._list_body(rt, page.items, page.rv, page.token, remaining))

    def _respond_object(self, request: web.Request, rt: ResourceType, obj: Obj) -> web.Response:
        if tables.wants_table(request):
            return _json(tables.table(rt, [obj], "", self._now()))
        return _json(obj)

    # -- subresources --------------------------------------------------------------
    async def _subresource(
        self, state: ClusterState, request: web.Request, target: Target, verb: str
    ) -> web.StreamResponse:
        rt, sub = target.rt, target.sub
        obj = state.store.get(rt, target.namespace, target.name)
        if sub == "log":
            if verb != "get":
                raise ApiError(405, "pods/log only supports get")
            return await podlogs.serve_log(request, state.logs, state.store, obj, self._now())
        if sub == "exec":
            return await podexec.serve_exec(request, obj, self._sleep)
        if sub == "portforward":
            ns, name = target.namespace, target.name
            ports = {p: a for (n, o, p), a in state.port_targets.items() if (n, o) == (ns, name)}
            return await portforward.serve_portforward(request, obj, ports)
        if sub == "scale":
            if verb == "get":
                return _json(self._scale(obj))
            ctx = writes.WriteContext.of(request, self._now())
            if verb == "update":
                replicas = _replicas_of(await writes.read_body(request))
            elif verb == "patch":
                replicas = _replicas_of(await writes.patched(request, rt, self._scale(obj)))
            else:
                raise ApiError(405, "scale supports get, update and patch")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise ApiError.invalid("Scale", target.name, "spec.replicas: must be >= 0")
            obj["spec"]["replicas"] = replicas
            obj["metadata"].pop("resourceVersion", None)
            stored = writes.update(state, rt, target.namespace, target.name, obj, ctx)
            return _json(self._scale(stored))
        # status
        if verb == "get":
            return _json(obj)
        ctx = writes.WriteContext.of(request, self._now())
        if verb == "update":
            new_status = (await writes.read_body(request)).get("status")
        elif verb == "patch":
            new_status = (await writes.patched(request, rt, obj)).get("status")
        else:
            raise ApiError(405, "status supports get, update and patch")
        return _json(writes.update_status(state, rt, target.namespace, target.name, new_status, ctx))

    @staticmethod
    def _scale(obj: Obj) -> Obj:
        meta = obj["metadata"]
        labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            },
        }

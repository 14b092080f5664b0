"""Kubectl: kom's fluent chain, async. Pick a resource, narrow it, then act.

::

    pods = await kubectl.resource("pods").namespace("web").labels("app=web").list()
    await kubectl.resource("deploy").namespace("web").name("api").scale(3)

Every narrowing step returns a new immutable :class:`Query`, so a half-built chain can be
stored and reused from many tasks at once. Names resolve through the server's discovery,
cached per cluster on the :class:`Kubectl` (so a chain costs no extra round trips), which
is why custom resources work exactly like built-in ones. All requests go through the
``ApiClient``'s ``call_api``, so its authentication applies to every one of them.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import copy
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, overload

import aiohttp

from kom_async.apply import apply_documents, load_documents
from kom_async.discovery import DEFAULT_TTL, Discovery, ResourceInfo
from kom_async.errors import KubernetesError, QueryError
from kom_async.models import is_model_class, to_model
from kom_async.rest import RestClient, Target, encode_query, error_from_status
from kom_async.selectors import Selector, combine, to_selector

__all__ = ["ALL_NAMESPACES", "Kubectl", "PatchType", "Query", "Watch"]

log = logging.getLogger("kom_async.kubectl")
T = TypeVar("T")
Obj = dict[str, Any]
PatchType = Literal["merge", "strategic", "json", "apply"]

ALL_NAMESPACES = "*"
"""Pass to ``.namespace()`` to list or watch across all namespaces."""

DEFAULT_NAMESPACE = "default"
"""Where namespaced objects go when neither the query nor the object names a namespace."""

DEFAULT_FIELD_MANAGER = "kom-async"

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

_SCALABLE = ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")
_RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
_LIST_PAGE_SIZE = 500
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
_WATCH_CYCLE = 300  # seconds the server keeps one watch stream open (timeoutSeconds)
_WATCH_GRACE = 30.0  # seconds past that without data: the connection is dead
_QUICK_EOF = 1.0  # seconds: a watch stream that ends sooner, eventless, counts as a failure


class Kubectl:
    """The fluent API for one cluster; the registry builds one per cluster.

    ``api_client`` is a ready kubernetes_asyncio ``ApiClient``; whoever created it closes
    it. Discovery results are cached here for ``discovery_ttl`` seconds. Each request
    (not a watch) may take ``request_timeout`` seconds (None: no limit).
    """

    def __init__(
        self,
        api_client: Any,
        *,
        cluster_id: str = "",
        discovery_ttl: float = DEFAULT_TTL,
        request_timeout: float | None = 60.0,
    ) -> None:
        self._api_client = api_client
        self._cluster_id = cluster_id
        self._rest = RestClient(api_client, timeout=request_timeout)
        self._discovery = Discovery(self._rest, ttl=discovery_ttl)

    def __repr__(self) -> str:
        return f"Kubectl(cluster_id={self._cluster_id!r})"

    @property
    def api_client(self) -> Any:
        """The kubernetes_asyncio ``ApiClient`` every request goes through."""
        return self._api_client

    @property
    def cluster_id(self) -> str:
        """The registry id of this cluster ("" when built by hand)."""
        return self._cluster_id

    @property
    def discovery(self) -> Discovery:
        """This cluster's cached discovery (``loads`` counts discovery rounds)."""
        return self._discovery

    def invalidate_discovery(self) -> None:
        """Forget cached discovery, e.g. after installing CRDs by other means."""
        self._discovery.invalidate()

    async def api_resources(self) -> list[ResourceInfo]:
        """What ``kubectl api-resources`` shows: every resource, preferred versions only."""
        return [r for r in await self._discovery.resources() if r.preferred]

    # -- selecting -------------------------------------------------------------------

    @overload
    def resource(self, what: type[T]) -> Query[T]: ...

    @overload
    def resource(self, what: str) -> Query[Obj]: ...

    def resource(self, what: str | type[Any]) -> Query[Any]:
        """Select a resource by kind (``"Pod"``), plural or short name, or model class.

        A model class (``V1Pod``) makes the query return instances of that class.
        """
        if isinstance(what, str):
            if not what.strip():
                raise QueryError("resource() needs a kind such as 'Pod', 'pods' or 'po'")
            return Query(self, _Selected(name=what.strip()))
        if is_model_class(what):
            return Query(self, _Selected(model=what))
        if is_model_class(type(what)):  # a model instance: use its class
            return Query(self, _Selected(model=type(what)))
        raise QueryError(
            f"resource() takes a kind name or a kubernetes_asyncio model class, not {type(what).__name__}"
        )

    def gvk(self, group: str, version: str, kind: str) -> Query[Obj]:
        """Select by exact group, version and kind; works for anything discovery serves."""
        if not version or not kind:
            raise QueryError("gvk() needs a version and a kind, e.g. gvk('apps', 'v1', 'Deployment')")
        return Query(self, _Selected(gvk=(group or "", version, kind)))

    crd = gvk
    """Alias of :meth:`gvk`, reading better for custom resources."""

    def pod(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Query[Obj]:
        """One pod, ready for ``get()``, ``logs()``, ``delete()``..."""
        return self.resource("pods").namespace(namespace).name(name)

    def deployment(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Query[Obj]:
        """One deployment, ready for ``scale()``, ``restart()``..."""
        return self.resource("deployments.apps").namespace(namespace).name(name)

    def node(self, name: str) -> Query[Obj]:
        """One node, ready for ``cordon()`` and ``uncordon()``."""
        return self.resource("nodes").name(name)

    # -- multi-document YAML ------------------------------------------------------

    async def apply(
        self,
        yaml_text: str,
        *,
        field_manager: str = DEFAULT_FIELD_MANAGER,
        namespace: str | None = None,
        force: bool = True,
        server_side: bool = True,
    ) -> list[Obj]:
        """Create or update every object in a multi-document YAML; return what was stored.

        Documents are applied in order (so a Namespace or CRD can precede its users).
        Namespaced objects without a namespace go to ``namespace`` or "default".
        Server-side apply is used by default; ``server_side=False`` creates, and on
        AlreadyExists merge-patches the document instead.
        """
        return await apply_documents(
            self,
            load_documents(yaml_text),
            field_manager=field_manager,
            namespace=namespace,
            force=force,
            server_side=server_side,
        )

    # -- internals shared with Query ------------------------------------------------

    @property
    def _rest_client(self) -> RestClient:
        return self._rest

    def _to_model(self, data: Any, model: type[Any] | None) -> Any:
        if model is None or not isinstance(data, dict):
            return data
        return to_model(data, model)

    def _to_plain(self, obj: Any) -> Any:
        if isinstance(obj, Mapping):
            return copy.deepcopy(dict(obj))
        if isinstance(obj, list):
            return copy.deepcopy(obj)
        if is_model_class(type(obj)):
            return self._api_client.sanitize_for_serialization(obj)
        raise QueryError(f"expected a dict or a kubernetes_asyncio model, got {type(obj).__name__}")


@dataclass(frozen=True, slots=True)
class _Selected:
    """What ``resource()``/``gvk()`` selected, before discovery resolves it."""

    name: str | None = None
    model: type[Any] | None = None
    gvk: tuple[str, str, str] | None = None

    def describe(self) -> str:
        if self.model is not None:
            return self.model.__name__
        if self.gvk is not None:
            group, version, kind = self.gvk
            return f"{kind}.{version}.{group}" if group else f"{kind}.{version}"
        return self.name or "?"


@dataclass(frozen=True, slots=True)
class Query(Generic[T]):
    """An immutable, reusable description of "which objects"; its coroutines act on them.

    Build it with :meth:`Kubectl.resource` or :meth:`Kubectl.gvk`; every narrowing method
    returns a new query and leaves this one unchanged.
    """

    _kubectl: Kubectl = field(repr=False)
    _selected: _Selected
    _namespace: str | None = None
    _name: str | None = None
    _labels: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()
    _limit: int | None = None

    def __repr__(self) -> str:
        parts = [self._selected.describe()]
        for label, value in (
            ("cluster", self._kubectl.cluster_id or None),
            ("namespace", self._namespace),
            ("name", self._name),
            ("labels", combine(self._labels)),
            ("fields", combine(self._fields)),
            ("limit", self._limit),
        ):
            if value is not None:
                parts.append(f"{label}={value!r}")
        return f"Query({', '.join(parts)})"

    # -- narrowing -----------------------------------------------------------------

    def namespace(self, namespace: str) -> Query[T]:
        """Narrow to one namespace; ``"*"`` means all namespaces (list, watch, count)."""
        if not isinstance(namespace, str) or not namespace.strip():
            raise QueryError("namespace() needs a name, or '*' for all namespaces")
        return replace(self, _namespace=namespace.strip())

    def all_namespaces(self) -> Query[T]:
        """Same as ``.namespace("*")``."""
        return replace(self, _namespace=ALL_NAMESPACES)

    def name(self, name: str) -> Query[T]:
        """Narrow to one object by name."""
        if not isinstance(name, str) or not name.strip():
            raise QueryError("name() needs a non-empty object name")
        return replace(self, _name=name.strip())

    def labels(self, selector: Selector) -> Query[T]:
        """Add a label selector (``"app=web,tier!=db"`` or ``{"app": "web"}``); ANDed."""
        try:
            text = to_selector(selector, what="label")
        except (TypeError, ValueError) as exc:
            raise QueryError(str(exc)) from None
        return replace(self, _labels=(*self._labels, text))

    def fields(self, selector: Selector) -> Query[T]:
        """Add a field selector (``"status.phase=Running"``); ANDed."""
        try:
            text = to_selector(selector, what="field")
        except (TypeError, ValueError) as exc:
            raise QueryError(str(exc)) from None
        return replace(self, _fields=(*self._fields, text))

    def limit(self, limit: int) -> Query[T]:
        """Return at most ``limit`` objects from ``list()`` (one page, no continuation)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise QueryError(f"limit() needs a positive int, got {limit!r}")
        return replace(self, _limit=limit)

    # -- acting ----------------------------------------------------------------------

    async def get(self) -> T:
        """Fetch the named object."""
        self._require_name("get")
        info = await self._resolve()
        namespace = self._object_namespace(info, None, "get")
        data = await self._rest.json(
            "GET", info.path(namespace, self._name), target=self._target(info, namespace)
        )
        return self._out(info, data)

    async def list(self, *, page_size: int | None = None) -> builtins.list[T]:
        """List matching objects, following ``continue`` tokens unless ``limit()`` was set.

        ``page_size`` sets how many objects each request asks for (default 500).
        """
        info = await self._resolve()
        namespace = self._collection_namespace(info)
        size = self._limit or page_size or _LIST_PAGE_SIZE
        items: builtins.list[T] = []
        token: str | None = None
        while True:
            data = await self._list_page(info, namespace, size, token)
            items.extend(self._out(info, item) for item in data.get("items") or [])
            token = (data.get("metadata") or {}).get("continue") or None
            if self._limit is not None or not token:
                return items

    def pages(self) -> AsyncIterator[builtins.list[T]]:
        """Iterate over list pages of ``limit()`` objects each, following ``continue``."""
        return self._pages(page_size=self._limit or _LIST_PAGE_SIZE)

    async def count(self) -> int:
        """How many objects match (uses the server's ``remainingItemCount`` when given)."""
        info = await self._resolve()
        namespace = self._collection_namespace(info)
        total = 0
        token: str | None = None
        while True:
            data = await self._list_page(info, namespace, _LIST_PAGE_SIZE, token)
            total += len(data.get("items") or [])
            meta = data.get("metadata") or {}
            token = meta.get("continue") or None
            remaining = meta.get("remainingItemCount")
            if token and isinstance(remaining, int):
                return total + remaining
            if not token:
                return total

    async def create(self, obj: Any) -> T:
        """Create ``obj`` (a dict or model); the query's namespace/name fill in blanks."""
        info = await self._resolve()
        body = self._body(info, obj, "create")
        meta = body["metadata"]
        if not meta.get("name") and not meta.get("generateName"):
            raise QueryError("create() needs metadata.name (or generateName), or .name(...)")
        namespace = self._object_namespace(info, meta.get("namespace"), "create")
        if namespace is not None:
            meta["namespace"] = namespace
        data = await self._rest.json(
            "POST",
            info.path(namespace),
            target=self._target(info, namespace, meta.get("name")),
            body=body,
        )
        self._after_write(info)
        return self._out(info, data)

    async def update(self, obj: Any) -> T:
        """Replace the object with ``obj`` (PUT); a stale resourceVersion is a Conflict."""
        info = await self._resolve()
        body = self._body(info, obj, "update")
        name = body["metadata"].get("name")
        if not name:
            raise QueryError("update() needs metadata.name in the object or .name(...)")
        namespace = self._object_namespace(info, body["metadata"].get("namespace"), "update")
        if namespace is not None:
            body["metadata"]["namespace"] = namespace
        data = await self._rest.json(
            "PUT",
            info.path(namespace, name),
            target=self._target(info, namespace, name),
            body=body,
        )
        self._after_write(info)
        return self._out(info, data)

    async def patch(
        self,
        body: Any,
        type: PatchType = "merge",
        *,
        field_manager: str | None = None,
        force: bool | None = None,
    ) -> T:
        """Patch the named object: ``merge``, ``strategic``, ``json`` (a list of ops) or
        ``apply`` (server-side apply; ``field_manager`` defaults to "kom-async")."""
        self._require_name("patch")
        content_type = _PATCH_CONTENT_TYPES.get(type)
        if content_type is None:
            raise QueryError(f"patch type must be one of {sorted(_PATCH_CONTENT_TYPES)}, not {type!r}")
        payload = self._kubectl._to_plain(body)
        if type == "json" and not isinstance(payload, list):
            raise QueryError("a json patch is a list of operations like {'op': 'replace', ...}")
        if type != "json" and not isinstance(payload, dict):
            raise QueryError(f"a {type} patch is a dict (object fragment)")
        if force is not None and type != "apply":
            raise QueryError("force= only applies to type='apply' (server-side apply)")
        info = await self._resolve()
        namespace = self._object_namespace(info, None, "patch")
        if type == "apply":
            field_manager = field_manager or DEFAULT_FIELD_MANAGER
            payload.setdefault("apiVersion", info.api_version)
            payload.setdefault("kind", info.kind)
            meta = payload.setdefault("metadata", {})
            meta.setdefault("name", self._name)
            if namespace is not None:
                meta.setdefault("namespace", namespace)
        query = encode_query({"fieldManager": field_manager, "force": force})
        data = await self._rest.json(
            "PATCH",
            info.path(namespace, self._name),
            target=self._target(info, namespace),
            query=query,
            body=payload,
            content_type=content_type,
        )
        self._after_write(info)
        return self._out(info, data)

    async def delete(
        self,
        *,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        grace_period_seconds: int | None = None,
    ) -> Obj:
        """Delete the named object; returns the server's answer (the object or a Status)."""
        self._require_name("delete")
        info = await self._resolve()
        namespace = self._object_namespace(info, None, "delete")
        options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy is not None:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        data = await self._rest.json(
            "DELETE",
            info.path(namespace, self._name),
            target=self._target(info, namespace),
            body=options,
        )
        self._after_write(info)
        return data if isinstance(data, dict) else {}

    def watch(
        self,
        resource_version: str | None = None,
        *,
        timeout_seconds: float | None = None,
        send_initial: bool = True,
        max_retries: int = 5,
    ) -> Watch[T]:
        """Stream ``(type, object)`` events; survives dropped connections.

        Without ``resource_version`` the current objects are listed first and reported
        as ADDED (``send_initial=False`` skips them), then changes follow. After a
        dropped connection the watch resumes from the last seen resourceVersion; on 410
        Gone it lists again and reports the difference. ``timeout_seconds`` bounds the
        whole watch. Use ``async with query.watch() as events:`` to close it promptly;
        breaking out of ``async for`` also closes its connection.
        """
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise QueryError("timeout_seconds must be positive")
        return Watch(
            self,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            send_initial=send_initial,
            max_retries=max_retries,
        )

    # -- daily helpers -------------------------------------------------------------

    async def logs(
        self,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        previous: bool = False,
        timestamps: bool = False,
    ) -> str:
        """A pod's log text (``kubectl logs``)."""
        self._require_name("logs")
        info = await self._resolve()
        self._require_kind(info, "logs", ("Pod",))
        namespace = self._object_namespace(info, None, "logs")
        query = encode_query(
            {
                "container": container,
                "tailLines": tail_lines,
                "sinceSeconds": since_seconds,
                "previous": previous or None,
                "timestamps": timestamps or None,
            }
        )
        return await self._rest.text(
            info.path(namespace, self._name) + "/log",
            target=self._target(info, namespace),
            query=query,
        )

    async def scale(self, replicas: int) -> Obj:
        """Set replicas through the ``scale`` subresource; returns the Scale object."""
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise QueryError(f"scale() needs a replica count >= 0, got {replicas!r}")
        self._require_name("scale")
        info = await self._resolve()
        if "scale" not in info.subresources and info.kind not in _SCALABLE:
            raise QueryError(
                f"{info.kind} has no scale subresource; scale() works on "
                "deployments, statefulsets, replicasets and scalable CRDs"
            )
        namespace = self._object_namespace(info, None, "scale")
        data = await self._rest.json(
            "PATCH",
            info.path(namespace, self._name) + "/scale",
            target=self._target(info, namespace),
            body={"spec": {"replicas": replicas}},
            content_type=_PATCH_CONTENT_TYPES["merge"],
        )
        return data if isinstance(data, dict) else {}

    async def restart(self) -> T:
        """Roll the pods like ``kubectl rollout restart``: stamp the template annotation."""
        self._require_name("restart")
        info = await self._resolve()
        self._require_kind(info, "restart", ("Deployment", "StatefulSet", "DaemonSet"))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {_RESTART_ANNOTATION: now}}}}}
        return await self._patch_resolved(info, patch, "restart")

    async def cordon(self) -> T:
        """Mark the node unschedulable."""
        return await self._set_unschedulable(True)

    async def uncordon(self) -> T:
        """Make the node schedulable again."""
        return await self._set_unschedulable(None)

    # -- internals -------------------------------------------------------------------

    @property
    def _rest(self) -> RestClient:
        return self._kubectl._rest_client

    async def _resolve(self) -> ResourceInfo:
        discovery = self._kubectl.discovery
        selected = self._selected
        if selected.model is not None:
            return await discovery.resolve_model(selected.model)
        if selected.gvk is not None:
            return await discovery.resolve_gvk(*selected.gvk)
        assert selected.name is not None
        return await discovery.resolve(selected.name)

    def _require_name(self, verb: str) -> None:
        if self._name is None:
            raise QueryError(
                f"{verb}() acts on one object: add .name('...') to the {self._selected.describe()} query"
            )
        if self._namespace == ALL_NAMESPACES:
            raise QueryError(
                f"{verb}() acts on one object: pick one namespace with .namespace('...') "
                "instead of all namespaces"
            )

    def _require_kind(self, info: ResourceInfo, verb: str, kinds: tuple[str, ...]) -> None:
        if info.kind not in kinds:
            raise QueryError(f"{verb}() works on {', '.join(kinds)}, not {info.kind}")

    def _object_namespace(self, info: ResourceInfo, from_object: str | None, verb: str) -> str | None:
        if not info.namespaced:
            return None
        if self._namespace == ALL_NAMESPACES:
            raise QueryError(f"{verb}() needs one namespace, not all: use .namespace('...')")
        if self._namespace and from_object and from_object != self._namespace:
            raise QueryError(
                f"{verb}(): the object says namespace {from_object!r} but the query says {self._namespace!r}"
            )
        return self._namespace or from_object or DEFAULT_NAMESPACE

    def _collection_namespace(self, info: ResourceInfo) -> str | None:
        if not info.namespaced or self._namespace == ALL_NAMESPACES:
            return None
        return self._namespace or DEFAULT_NAMESPACE

    def _target(self, info: ResourceInfo, namespace: str | None, name: str | None = None) -> Target:
        return Target(kind=info.kind, namespace=namespace, name=name or self._name)

    def _selectors(self) -> tuple[str | None, str | None]:
        fields = list(self._fields)
        if self._name is not None:
            fields.append(f"metadata.name={self._name}")
        return combine(self._labels), combine(fields)

    def _body(self, info: ResourceInfo, obj: Any, verb: str) -> Obj:
        body = self._kubectl._to_plain(obj)
        if not isinstance(body, dict):
            raise QueryError(f"{verb}() needs one object (a dict or a model instance)")
        kind = body.get("kind")
        if kind and kind != info.kind:
            raise QueryError(f"{verb}(): the object is a {kind} but the query selects {info.kind}")
        body.setdefault("apiVersion", info.api_version)
        body["kind"] = info.kind
        meta = body.get("metadata")
        if meta is None:
            meta = body["metadata"] = {}
        if not isinstance(meta, dict):
            raise QueryError(f"{verb}(): metadata must be a mapping")
        if self._name is not None:
            if meta.get("name") and meta["name"] != self._name:
                raise QueryError(
                    f"{verb}(): the object is named {meta['name']!r} but the query says {self._name!r}"
                )
            meta["name"] = self._name
        return body

    def _out(self, info: ResourceInfo, data: Any) -> T:
        if isinstance(data, dict):
            data.setdefault("apiVersion", info.api_version)
            data.setdefault("kind", info.kind)
        result: T = self._kubectl._to_model(data, self._selected.model)
        return result

    def _after_write(self, info: ResourceInfo) -> None:
        if info.group == "apiextensions.k8s.io" and info.plural == "customresourcedefinitions":
            self._kubectl.invalidate_discovery()  # the set of served resources changed

    async def _patch_resolved(self, info: ResourceInfo, patch: Obj, verb: str) -> T:
        namespace = self._object_namespace(info, None, verb)
        data = await self._rest.json(
            "PATCH",
            info.path(namespace, self._name),
            target=self._target(info, namespace),
            body=patch,
            content_type=_PATCH_CONTENT_TYPES["merge"],
        )
        return self._out(info, data)

    async def _set_unschedulable(self, value: bool | None) -> T:
        verb = "cordon" if value else "uncordon"  # uncordon removes the field, like kubectl
        self._require_name(verb)
        info = await self._resolve()
        self._require_kind(info, verb, ("Node",))
        return await self._patch_resolved(info, {"spec": {"unschedulable": value}}, verb)

    async def _list_page(
        self, info: ResourceInfo, namespace: str | None, limit: int, token: str | None
    ) -> Obj:
        labels, fields = self._selectors()
        query = encode_query(
            {"labelSelector": labels, "fieldSelector": fields, "limit": limit, "continue": token}
        )
        data = await self._rest.json(
            "GET", info.path(namespace), target=self._target(info, namespace), query=query
        )
        return data if isinstance(data, dict) else {}

    async def _pages(self, *, page_size: int) -> AsyncIterator[builtins.list[T]]:
        info = await self._resolve()
        namespace = self._collection_namespace(info)
        token: str | None = None
        while True:
            data = await self._list_page(info, namespace, page_size, token)
            yield [self._out(info, item) for item in data.get("items") or []]
            token = (data.get("metadata") or {}).get("continue") or None
            if not token:
                return


class Watch(Generic[T]):
    """Async iterator of ``(event type, object)`` that reconnects by itself.

    Event types are ADDED, MODIFIED and DELETED (bookmarks are consumed silently). Use it
    as ``async with query.watch() as events: async for kind, obj in events: ...`` or just
    ``async for``; ``aclose()`` ends it early. Its HTTP connection is closed when the
    watch ends, when it is closed, or when it is garbage collected after a ``break``.
    """

    def __init__(
        self,
        query: Query[T],
        *,
        resource_version: str | None,
        timeout_seconds: float | None,
        send_initial: bool,
        max_retries: int,
    ) -> None:
        self._query = query
        self._rv = resource_version
        self._send_initial = send_initial
        self._max_retries = max_retries
        self._deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        self._info: ResourceInfo | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._pending: collections.deque[tuple[str, T]] = collections.deque()
        self._known: dict[tuple[str, str], Obj] = {}  # (namespace, name) -> metadata stub
        self._listed = False
        self._started = False
        self._failures = 0
        self._closed = False
        self._connections = 0
        self._connected_at = 0.0
        self._server_timeout = _WATCH_CYCLE
        self._events_on_connection = 0
        self.relists = 0
        """How many times the watch had to list again (410 Gone)."""

    @property
    def reconnects(self) -> int:
        """How many times the watch re-opened its connection (drops, server timeouts)."""
        return max(0, self._connections - 1)

    @property
    def resource_version(self) -> str | None:
        """The last resourceVersion seen: where the watch resumes."""
        return self._rv

    def __aiter__(self) -> Watch[T]:
        return self

    async def __aenter__(self) -> Watch[T]:
        await self.start()
        return self

    async def start(self) -> None:
        """Establish the watch now (list, then connect) instead of at the first event.

        ``async with`` calls this, so changes made inside the block are all seen.
        """
        if self._started or self._closed:
            return
        self._started = True
        try:
            if self._info is None:
                self._info = await self._query._resolve()
            while self._response is None and not self._closed:
                if self._rv is None:  # first list, or 410 Gone while connecting
                    await self._try_relist(self._info)
                    continue
                await self._connect(self._info, self._remaining())
        except asyncio.CancelledError:
            self._drop_response()  # the next __anext__ carries on from the same state
            raise
        except BaseException:
            self._closed = True
            self._drop_response()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the watch and close its connection; idempotent."""
        self._closed = True
        self._pending.clear()
        self._drop_response()

    def __del__(self) -> None:
        try:
            self._drop_response()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    async def __anext__(self) -> tuple[str, T]:
        try:
            return await self._next()
        except asyncio.CancelledError:
            # e.g. wait_for(anext(events), t) timed out: the stream may be mid-line, so
            # drop it; the next call resumes from the last resourceVersion, losing nothing.
            self._drop_response()
            raise
        except BaseException:
            self._drop_response()
            self._closed = True
            raise

    async def _next(self) -> tuple[str, T]:
        if not self._started and not self._closed:
            await self.start()
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                raise StopAsyncIteration
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                self._closed = True
                self._drop_response()
                raise StopAsyncIteration
            if self._info is None:
                self._info = await self._query._resolve()
            if self._rv is None:
                await self._try_relist(self._info)
                continue
            if self._response is None:
                await self._connect(self._info, remaining)
                continue
            event = await self._read_event(remaining)
            if event is not None:
                result = self._handle(self._info, event)
                if result is not None:
                    return result

    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _drop_response(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()

    async def _relist(self, info: ResourceInfo) -> None:
        """List everything, queue the differences to what we knew, and resume from there.

        State changes only at the end, so a cancelled or failed list leaves none behind.
        """
        items, list_rv = await self._list_all(info)
        query = self._query
        events: list[tuple[str, T]] = []
        seen: dict[tuple[str, str], Obj] = {}
        for item in items:
            item_meta = item.get("metadata") or {}
            key = (item_meta.get("namespace") or "", item_meta.get("name") or "")
            seen[key] = _stub(info, item)
            old = self._known.get(key)
            if old is None:
                if self._listed or self._send_initial:
                    events.append(("ADDED", query._out(info, item)))
            elif (old.get("metadata") or {}).get("resourceVersion") != item_meta.get("resourceVersion"):
                events.append(("MODIFIED", query._out(info, item)))
        if self._listed:
            for key, stub in self._known.items():
                if key not in seen:
                    events.append(("DELETED", query._out(info, copy.deepcopy(stub))))
        self._pending.extend(events)
        self._listed = True
        self._known = seen
        self._rv = list_rv

    async def _list_all(self, info: ResourceInfo) -> tuple[builtins.list[Obj], str]:
        query = self._query
        namespace = query._collection_namespace(info)
        for _attempt in range(3):
            items: builtins.list[Obj] = []
            token: str | None = None
            list_rv: str | None = None
            try:
                while True:
                    data = await query._list_page(info, namespace, _LIST_PAGE_SIZE, token)
                    meta = data.get("metadata") or {}
                    list_rv = list_rv or meta.get("resourceVersion")
                    items.extend(data.get("items") or [])
                    token = meta.get("continue") or None
                    if not token:
                        return items, str(list_rv or "0")
            except KubernetesError as exc:
                if exc.status_code != 410:  # 410: the continue token expired; start over
                    raise
        raise QueryError("the list kept expiring while paging; try again")

    async def _connect(self, info: ResourceInfo, remaining: float | None) -> None:
        query = self._query
        # Like client-go, recycle the stream every few minutes so that a half-open
        # connection cannot stall the watch; it resumes from the last resourceVersion.
        cycle = _WATCH_CYCLE if remaining is None else min(_WATCH_CYCLE, remaining)
        self._server_timeout = max(1, math.ceil(cycle))
        namespace = query._collection_namespace(info)
        labels, fields = query._selectors()
        params: dict[str, object | None] = {
            "watch": True,
            "resourceVersion": self._rv,
            "allowWatchBookmarks": True,
            "labelSelector": labels,
            "fieldSelector": fields,
            "timeoutSeconds": self._server_timeout,
        }
        try:
            self._response = await query._rest.open(
                "GET",
                info.path(namespace),
                target=query._target(info, namespace),
                query=encode_query(params),
            )
        except KubernetesError as exc:
            if exc.status_code == 410:
                self._gone()
                return
            if exc.status_code in _TRANSIENT:
                await self._backoff(exc)
                return
            raise
        except _NETWORK_ERRORS as exc:
            await self._backoff(exc)
            return
        self._connections += 1
        self._connected_at = time.monotonic()
        self._events_on_connection = 0

    async def _try_relist(self, info: ResourceInfo) -> None:
        """List again; a transient failure (5xx, 429, network) counts toward max_retries."""
        try:
            await self._relist(info)
        except KubernetesError as exc:
            if exc.status_code not in _TRANSIENT:
                raise
            await self._backoff(exc)
        except _NETWORK_ERRORS as exc:
            await self._backoff(exc)

    async def _backoff(self, exc: BaseException) -> None:
        self._failures += 1
        if self._failures > self._max_retries:
            log.warning("%r: giving up after %d failed reconnects: %s", self, self._max_retries, exc)
            raise exc
        delay = min(2.0, 0.05 * 2 ** (self._failures - 1))
        log.debug("%r: reconnect %d failed (%s); retrying in %.2f s", self, self._failures, exc, delay)
        await asyncio.sleep(delay)

    def __repr__(self) -> str:
        return f"Watch({self._query!r}, resource_version={self._rv!r})"

    def _gone(self) -> None:
        """410 Gone: our resourceVersion is too old; list again and report the difference."""
        log.info("%r: resourceVersion expired (410 Gone); listing again", self)
        self._drop_response()
        self._rv = None
        self._listed = True
        self.relists += 1

    async def _read_event(self, remaining: float | None) -> Obj | None:
        assert self._response is not None
        # Past the server's own timeout (plus grace) a silent stream is a dead connection.
        idle = self._connected_at + self._server_timeout + _WATCH_GRACE - time.monotonic()
        wait = idle if remaining is None else min(remaining, idle)
        try:
            async with asyncio.timeout(max(0.0, wait)):
                line = await self._response.content.readline()
        except TimeoutError:
            if remaining is not None and remaining <= idle:  # the watch's own deadline
                self._closed = True
                self._drop_response()
                return None
            log.debug("%r: no data past the server's timeout; reconnecting", self)
            self._drop_response()  # a dead connection, not a refusing server: no backoff
            return None
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError):
            line = b""
        if not line:  # the server (or the network) ended the stream: resume from _rv
            log.debug("%r: stream ended; resuming", self)
            self._drop_response()
            quick = time.monotonic() - self._connected_at < _QUICK_EOF
            if quick and not self._events_on_connection:  # don't spin on a refusing server
                await self._backoff(aiohttp.ClientPayloadError("watch stream keeps ending at once"))
            else:
                self._failures = 0
            return None
        line = line.strip()
        if not line:
            return None
        event = json.loads(line)
        return event if isinstance(event, dict) else None

    def _handle(self, info: ResourceInfo, event: Obj) -> tuple[str, T] | None:
        kind = str(event.get("type", ""))
        obj = event.get("object")
        if not isinstance(obj, dict):
            return None
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                self._gone()
                return None
            target = self._query._target(info, self._query._collection_namespace(info))
            raise error_from_status(code or 500, json.dumps(obj), target)
        self._failures = 0
        self._events_on_connection += 1
        meta = obj.get("metadata") or {}
        rv = meta.get("resourceVersion")
        if rv:
            self._rv = str(rv)
        if kind == "BOOKMARK":
            return None
        key = (meta.get("namespace") or "", meta.get("name") or "")
        if kind == "DELETED":
            self._known.pop(key, None)
        else:
            self._known[key] = _stub(info, obj)
        return kind, self._query._out(info, obj)


def _stub(info: ResourceInfo, obj: Obj) -> Obj:
    """Just enough of an object to report its deletion after a re-list."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in meta}
    return {"apiVersion": info.api_version, "kind": info.kind, "metadata": kept}

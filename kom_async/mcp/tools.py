"""The MCP tools: register clusters (EKS included) and do everyday Kubernetes work on them.

Every tool returns compact JSON text (pod logs return plain text). Failures become MCP tool
errors carrying a one-line reason (the API server's own message for Kubernetes errors), never
a traceback; no output ever holds a token or a secret.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Concatenate, Literal, ParamSpec, cast

import aiohttp
import yaml
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from kom_async.clusters import Cluster, Clusters
from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.config.policy import ExecPolicy
from kom_async.errors import (
    EKSAuthError,
    EKSAuthErrorKind,
    ExecNotAllowed,
    KomError,
    KubernetesError,
    NotFound,
)
from kom_async.kubectl import Kubectl, Query
from kom_async.kubectl.apply import load_documents
from kom_async.kubectl.discovery import ResourceInfo
from kom_async.mcp.output import (
    MAX_LIST_LIMIT,
    MAX_RESULT_CHARS,
    compact,
    dumps,
    slim,
    strip_userinfo,
    tail_text,
)
from kom_async.transport.rest import RestClient, Target, encode_query

__all__ = ["KomTools", "ToolSettings"]

log = logging.getLogger("kom_async.mcp")

P = ParamSpec("P")
Obj = dict[str, Any]

# -- argument types shared by the tools (their descriptions end up in the JSON schemas) --
ClusterArg = Annotated[
    str | None,
    Field(description="Cluster id (see list_k8s_clusters); may be omitted when exactly one is registered"),
]
KindArg = Annotated[
    str,
    Field(
        description="Resource kind, plural or short name: 'Pod', 'deployments', 'deploy', "
        "'certificates.cert-manager.io'; with version (and group) it is matched exactly"
    ),
]
GroupArg = Annotated[
    str | None, Field(description="API group for an exact group/version/kind ('' or omitted: core)")
]
VersionArg = Annotated[
    str | None, Field(description="API version for an exact group/version/kind, e.g. 'v1'")
]
NameArg = Annotated[str, Field(description="Object name")]
NamespaceArg = Annotated[
    str | None, Field(description="Namespace (default: 'default'; ignored for cluster-scoped kinds)")
]
ListNamespaceArg = Annotated[str | None, Field(description="Namespace to list; omitted or '*' means all")]
LabelArg = Annotated[str | None, Field(description="Label selector, e.g. 'app=web,tier!=db'")]
FieldArg = Annotated[str | None, Field(description="Field selector, e.g. 'status.phase=Running'")]
LimitArg = Annotated[
    int,
    Field(
        ge=1,
        description=f"Most objects to return (at most {MAX_LIST_LIMIT}); page with continue_token",
    ),
]
ContextArg = Annotated[str | None, Field(description="Kubeconfig context (default: current-context)")]
ReplaceArg = Annotated[bool, Field(description="Replace a cluster already registered under the id")]
PathArg = Annotated[str | None, Field(description="Path of a kubeconfig file on the server host")]
ContinueArg = Annotated[
    str | None, Field(description="The 'continue' value of the previous page, to get the next one")
]


@dataclass(frozen=True)
class ToolSettings:
    """How the tools behave: exec policy for tool-supplied kubeconfigs, read-only, time limit."""

    exec_policy: ExecPolicy
    read_only: bool = False
    request_timeout: float = 60.0


_READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)
_REGISTER = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
_DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)


@dataclass(frozen=True)
class _Spec:
    """What ``install`` needs to know about a tool method."""

    annotations: ToolAnnotations
    writes: bool


def _tool(
    annotations: ToolAnnotations, *, writes: bool = False
) -> Callable[
    [Callable[Concatenate[KomTools, P], Awaitable[str]]], Callable[Concatenate[KomTools, P], Awaitable[str]]
]:
    """Mark a ``KomTools`` method as a tool; turn its failures into clean MCP tool errors."""

    def decorate(
        fn: Callable[Concatenate[KomTools, P], Awaitable[str]],
    ) -> Callable[Concatenate[KomTools, P], Awaitable[str]]:
        """Wrap ``fn`` with the read-only check, the time limit and error translation."""

        @functools.wraps(fn)
        async def run(self: KomTools, *args: P.args, **kwargs: P.kwargs) -> str:
            """Run the tool; any failure leaves as a ToolError with a one-line reason."""
            name = fn.__name__
            if writes and self.settings.read_only:
                raise ToolError(f"refused: the server runs with --read-only, and {name} changes the cluster")
            try:
                async with asyncio.timeout(self.settings.request_timeout):
                    return await fn(self, *args, **kwargs)
            except ToolError:
                raise
            except ExecNotAllowed as exc:
                raise ToolError(f"refused: {exc}") from None
            except KubernetesError as exc:
                raise ToolError(f"Kubernetes API error: {exc}") from None
            except KomError as exc:
                raise ToolError(str(exc)) from None
            except TimeoutError:
                raise ToolError(
                    f"{name} did not finish within {self.settings.request_timeout:g} s "
                    "(is the cluster reachable?)"
                ) from None
            except (aiohttp.ClientError, OSError) as exc:
                raise ToolError(f"could not reach the cluster: {type(exc).__name__}: {exc}") from None
            except Exception as exc:
                log.exception("tool %s failed unexpectedly", name)
                raise ToolError(
                    f"internal error in {name} ({type(exc).__name__}); see the server log"
                ) from None

        run.__kom_tool__ = _Spec(annotations, writes)  # type: ignore[attr-defined]
        return cast("Callable[Concatenate[KomTools, P], Awaitable[str]]", run)

    return decorate


class KomTools:
    """The tool implementations over one ``Clusters`` registry; ``install`` adds them to a server."""

    def __init__(self, clusters: Clusters, settings: ToolSettings) -> None:
        self.clusters = clusters
        self.settings = settings

    def install(self, server: MCPServer[Any]) -> list[str]:
        """Add every tool to ``server``; return their names."""
        names: list[str] = []
        for attr in dir(type(self)):
            spec = getattr(getattr(type(self), attr), "__kom_tool__", None)
            if not isinstance(spec, _Spec):
                continue
            method = getattr(self, attr)
            doc = inspect.cleandoc(method.__doc__ or "")
            if spec.writes and self.settings.read_only:
                doc += " (Disabled: this server runs read-only.)"
            server.add_tool(
                method, name=attr, description=doc, annotations=spec.annotations, structured_output=False
            )
            names.append(attr)
        return names

    # -- helpers ---------------------------------------------------------------------------
    def _cluster(self, cluster: str | None) -> Cluster:
        """The named cluster, or the only one registered (an agent need not repeat it)."""
        if cluster:
            return self.clusters.get(cluster)
        ids = list(self.clusters)
        if len(ids) == 1:
            return self.clusters.get(ids[0])
        if not ids:
            raise ToolError(
                "no cluster is registered: register one with register_eks_cluster or register_k8s_cluster"
            )
        raise ToolError(f"several clusters are registered ({', '.join(ids)}): pass cluster=<id>")

    def _kubectl(self, cluster: str | None) -> Kubectl:
        """The fluent API of ``_cluster(cluster)``."""
        return self._cluster(cluster).kubectl

    @staticmethod
    def _query(kubectl: Kubectl, kind: str, group: str | None, version: str | None) -> Query[Obj]:
        """A query by exact group/version/kind when a version is given, else by name."""
        if version:
            return kubectl.gvk(group or "", version, kind)
        if group:
            return kubectl.resource(f"{kind}.{group}")
        return kubectl.resource(kind)

    @staticmethod
    async def _resolve(kubectl: Kubectl, kind: str, group: str | None, version: str | None) -> ResourceInfo:
        """The served resource the tool arguments name (same rules as ``_query``)."""
        if version:
            return await kubectl.discovery.resolve_gvk(group or "", version, kind)
        return await kubectl.discovery.resolve(f"{kind}.{group}" if group else kind)

    def _one(
        self,
        kubectl: Kubectl,
        kind: str,
        name: str,
        namespace: str | None,
        group: str | None = None,
        version: str | None = None,
    ) -> Query[Obj]:
        """A query for one named object (namespace "default" unless given)."""
        query = self._query(kubectl, kind, group, version).name(name)
        return query.namespace(namespace) if namespace else query

    async def _list(
        self,
        kubectl: Kubectl,
        kind: str,
        *,
        group: str | None = None,
        version: str | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = MAX_LIST_LIMIT,
        continue_token: str | None = None,
    ) -> Obj:
        """One page of a list, with the ``continue`` token and a hint on how to get the next."""
        info = await self._resolve(kubectl, kind, group, version)
        ns = namespace if info.namespaced and namespace not in (None, "", "*") else None
        limit = max(1, min(int(limit), MAX_LIST_LIMIT))
        params = encode_query(
            {
                "labelSelector": label_selector or None,
                "fieldSelector": field_selector or None,
                "limit": limit,
                "continue": continue_token or None,
            }
        )
        data = await RestClient(kubectl.api_client).json(
            "GET", info.path(ns), target=Target(kind=info.kind, namespace=ns), query=params
        )
        data = data if isinstance(data, dict) else {}
        items = data.get("items") or []
        meta = data.get("metadata") or {}
        out: Obj = {
            "cluster": kubectl.cluster_id,
            "apiVersion": info.api_version,
            "kind": info.kind,
            "namespace": ns if info.namespaced else None,
            "count": len(items),
            "items": [slim(item) for item in items],
        }
        token = meta.get("continue")
        if token:
            remaining = meta.get("remainingItemCount")
            left = f" ({remaining} more)" if isinstance(remaining, int) else ""
            out["continue"] = token
            out["next"] = (
                f"more objects exist{left}: call again with the same arguments and continue_token=<continue>"
            )
        return out

    def _checked_selection_text(self, kubeconfig: str | None, path: str | None, context: str | None) -> str:
        """The kubeconfig text from ``kubeconfig`` or ``path``, after the tool safety check."""
        if bool(kubeconfig) == bool(path):
            raise ToolError("pass either kubeconfig (the YAML content) or kubeconfig_path, not both")
        if path:
            try:
                text = Path(path).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ToolError(f"cannot read kubeconfig_path {path!r}: {type(exc).__name__}") from None
        else:
            assert kubeconfig is not None
            text = kubeconfig
        self.settings.exec_policy.check_kubeconfig(load_kubeconfig(text, context=context))
        return text

    @staticmethod
    def _cluster_info(cluster: Cluster) -> Obj:
        """What list_k8s_clusters shows of a cluster: identity and auth health, never a token."""
        info: Obj = {
            "id": cluster.id,
            "server": strip_userinfo(cluster.server),
            "is_eks": cluster.is_eks,
            "auth": cluster.auth_kind,
        }
        if cluster.eks is not None:
            eks: Obj = {"cluster_name": cluster.eks.cluster_name, "region": cluster.eks.region}
            if cluster.eks.role_arn:
                eks["role_arn"] = cluster.eks.role_arn
            if cluster.eks.profile:
                eks["profile"] = cluster.eks.profile
            info["eks"] = eks
        stats = cluster.auth_stats
        if stats is not None:
            info["token"] = {
                "source": stats.source,
                "expires_at": _iso(stats.expires_at),
                "fetches": stats.fetches,
                "refresh_failures": stats.refresh_failures,
                "unauthorized_recoveries": stats.unauthorized_recoveries,
                "last_success": _iso(stats.last_success),
                "last_error": stats.last_error,
            }
        return info

    # -- cluster tools -----------------------------------------------------------------------
    @_tool(_READ)
    async def list_k8s_clusters(self) -> str:
        """List registered clusters: id, server, EKS or not, auth kind, token expiry, last auth error."""
        return dumps({"clusters": [self._cluster_info(c) for c in self.clusters.values()]})

    @_tool(_REGISTER)
    async def register_eks_cluster(
        self,
        kubeconfig: Annotated[
            str | None, Field(description="EKS kubeconfig YAML content (aws eks update-kubeconfig style)")
        ] = None,
        kubeconfig_path: PathArg = None,
        cluster_name: Annotated[
            str | None, Field(description="EKS cluster name, for registration without a kubeconfig")
        ] = None,
        region: Annotated[str | None, Field(description="AWS region of cluster_name")] = None,
        role_arn: Annotated[str | None, Field(description="IAM role to assume for tokens (optional)")] = None,
        profile: Annotated[str | None, Field(description="AWS profile to use (optional)")] = None,
        cluster_id: Annotated[
            str | None, Field(description="Id to register under (default: context name, or <region>-<name>)")
        ] = None,
        context: ContextArg = None,
        replace: ReplaceArg = False,
    ) -> str:
        """Register an AWS EKS cluster from a kubeconfig (content or path) or by cluster_name + region.

        Tokens are minted and refreshed by the server; they never appear in any output.
        """
        if cluster_name or region:
            if kubeconfig or kubeconfig_path or context:
                raise ToolError("pass either cluster_name + region or a kubeconfig, not both")
            if not (cluster_name and region):
                raise ToolError("registration by name needs both cluster_name and region")
            kubectl = await self.clusters.register_eks(
                cluster_name,
                region,
                profile=profile,
                role_arn=role_arn,
                cluster_id=cluster_id,
                replace=replace,
            )
        else:
            if role_arn or profile:
                raise ToolError(
                    "role_arn and profile go with cluster_name + region; a kubeconfig carries its own"
                )
            text = self._checked_selection_text(kubeconfig, kubeconfig_path, context)
            try:
                kubectl = await self.clusters.register_eks_by_string(
                    text, cluster_id, context, replace=replace, exec_policy=self.settings.exec_policy
                )
            except EKSAuthError as exc:
                if exc.kind is not EKSAuthErrorKind.InvalidKubeconfig:
                    raise
                raise ToolError(str(exc).replace("register_by_string", "register_k8s_cluster")) from None
        return dumps({"registered": self._cluster_info(self.clusters.get(kubectl.cluster_id))})

    @_tool(_REGISTER)
    async def register_k8s_cluster(
        self,
        kubeconfig: Annotated[str | None, Field(description="Kubeconfig YAML content")] = None,
        kubeconfig_path: PathArg = None,
        cluster_id: Annotated[
            str | None, Field(description="Id to register under (default: the context name)")
        ] = None,
        context: ContextArg = None,
        replace: ReplaceArg = False,
    ) -> str:
        """Register any Kubernetes cluster from a kubeconfig (EKS exec users are detected).

        Exec credential plugins run only if allowed (default: aws, aws-iam-authenticator, kom-async
        minting tokens); a refused kubeconfig returns an error saying why.
        """
        text = self._checked_selection_text(kubeconfig, kubeconfig_path, context)
        kubectl = await self.clusters.register_by_string(
            text, cluster_id, context, replace=replace, exec_policy=self.settings.exec_policy
        )
        return dumps({"registered": self._cluster_info(self.clusters.get(kubectl.cluster_id))})

    @_tool(_REGISTER)
    async def unregister_k8s_cluster(self, cluster: Annotated[str, Field(description="Cluster id")]) -> str:
        """Unregister a cluster: stop its token refresh and close its connections."""
        await self.clusters.unregister(cluster)
        return dumps({"unregistered": cluster, "remaining": list(self.clusters)})

    # -- generic resource tools ----------------------------------------------------------------
    @_tool(_READ)
    async def list_k8s_resource(
        self,
        kind: KindArg,
        cluster: ClusterArg = None,
        namespace: ListNamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
        label_selector: LabelArg = None,
        field_selector: FieldArg = None,
        limit: LimitArg = MAX_LIST_LIMIT,
        continue_token: ContinueArg = None,
    ) -> str:
        """List objects of any kind (built-in or custom), one page at a time (managedFields dropped)."""
        kubectl = self._kubectl(cluster)
        limit = min(limit, MAX_LIST_LIMIT)
        while True:
            page = await self._list(
                kubectl,
                kind,
                group=group,
                version=version,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=limit,
                continue_token=continue_token,
            )
            text = dumps(page)
            if len(text) <= MAX_RESULT_CHARS or limit == 1:
                return text
            limit = max(1, limit // 2)  # big objects: ask again for a smaller page, same position

    @_tool(_READ)
    async def list_k8s_api_resources(self, cluster: ClusterArg = None) -> str:
        """What kinds the cluster serves (like kubectl api-resources): names usable as 'kind'."""
        resources = await self._kubectl(cluster).api_resources()
        return dumps(
            {
                "resources": [
                    {
                        "kind": r.kind,
                        "name": r.plural if not r.group else f"{r.plural}.{r.group}",
                        "apiVersion": r.api_version,
                        "namespaced": r.namespaced,
                        "short_names": list(r.short_names),
                    }
                    for r in resources
                    if "/" not in r.plural
                ]
            }
        )

    @_tool(_READ)
    async def get_k8s_resource(
        self,
        kind: KindArg,
        name: NameArg,
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
    ) -> str:
        """Get one object of any kind as JSON (managedFields dropped)."""
        kubectl = self._kubectl(cluster)
        return compact(await self._one(kubectl, kind, name, namespace, group, version).get())

    @_tool(_READ)
    async def describe_k8s_resource(
        self,
        kind: KindArg,
        name: NameArg,
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
    ) -> str:
        """Like kubectl describe: the object plus the events that mention it."""
        kubectl = self._kubectl(cluster)
        obj = await self._one(kubectl, kind, name, namespace, group, version).get()
        meta = obj.get("metadata") or {}
        selector = f"involvedObject.name={name}"
        if meta.get("namespace"):
            selector += f",involvedObject.namespace={meta['namespace']}"
        result: Obj = {"object": slim(obj)}
        try:
            events = await self._list(
                kubectl,
                "events",
                namespace=meta.get("namespace"),
                field_selector=selector,
                limit=MAX_LIST_LIMIT,
            )
            result["events"] = [_event_line(e) for e in events["items"] if _mentions(e, obj)]
        except KomError as exc:
            result["events_error"] = str(exc)
        return dumps(result)

    @_tool(_DESTRUCTIVE, writes=True)
    async def delete_k8s_resource(
        self,
        kind: KindArg,
        name: NameArg,
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
        propagation_policy: Annotated[
            Literal["Foreground", "Background", "Orphan"] | None,
            Field(description="How dependents are deleted (server default when omitted)"),
        ] = None,
    ) -> str:
        """Delete one object of any kind."""
        kubectl = self._kubectl(cluster)
        query = self._one(kubectl, kind, name, namespace, group, version)
        answer = await query.delete(propagation_policy=propagation_policy)
        return dumps({"deleted": _ref(answer, fallback_name=name), "status": _status_word(answer)})

    @_tool(_WRITE, writes=True)
    async def patch_k8s_resource(
        self,
        kind: KindArg,
        name: NameArg,
        patch: Annotated[
            dict[str, Any] | list[dict[str, Any]] | str,
            Field(description="The patch: an object fragment, a JSON-patch list, or their JSON/YAML text"),
        ],
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        group: GroupArg = None,
        version: VersionArg = None,
        patch_type: Annotated[
            Literal["merge", "strategic", "json"], Field(description="merge (default), strategic or json")
        ] = "merge",
    ) -> str:
        """Patch one object of any kind (merge, strategic-merge or JSON patch); returns the result."""
        body: Any = patch
        if isinstance(patch, str):
            try:
                body = yaml.safe_load(patch)
            except yaml.YAMLError:
                raise ToolError("patch text is neither JSON nor YAML") from None
        kubectl = self._kubectl(cluster)
        return compact(
            await self._one(kubectl, kind, name, namespace, group, version).patch(body, patch_type)
        )

    @_tool(_WRITE, writes=True)
    async def apply_k8s_yaml(
        self,
        yaml_text: Annotated[str, Field(description="One or more YAML documents ('---' separated)")],
        cluster: ClusterArg = None,
        namespace: Annotated[
            str | None, Field(description="Namespace for objects that name none (default 'default')")
        ] = None,
    ) -> str:
        """Create or update every object in a multi-document YAML (server-side apply), in order."""
        kubectl = self._kubectl(cluster)
        stored = await kubectl.apply(yaml_text, namespace=namespace)
        return dumps({"applied": [_ref(obj) for obj in stored]})

    @_tool(_DESTRUCTIVE, writes=True)
    async def delete_k8s_yaml(
        self,
        yaml_text: Annotated[str, Field(description="The YAML that was applied")],
        cluster: ClusterArg = None,
        namespace: Annotated[
            str | None, Field(description="Namespace for objects that name none (default 'default')")
        ] = None,
    ) -> str:
        """Delete every object named in a multi-document YAML (in reverse order; missing ones are skipped)."""
        kubectl = self._kubectl(cluster)
        results: list[Obj] = []
        for doc in reversed(load_documents(yaml_text)):
            api_version = str(doc["apiVersion"])
            group, _, version = api_version.rpartition("/")
            meta = doc["metadata"]
            name = str(meta["name"])
            query = kubectl.gvk(group, version, str(doc["kind"])).name(name)
            ns = meta.get("namespace") or namespace
            if ns:
                query = query.namespace(str(ns))
            ref: Obj = {"kind": doc["kind"], "name": name}
            if ns:
                ref["namespace"] = ns
            try:
                await query.delete()
                ref["deleted"] = True
            except NotFound:
                ref["deleted"] = False
                ref["reason"] = "not found"
            results.append(ref)
        return dumps({"results": results})

    # -- everyday shortcuts ------------------------------------------------------------------
    @_tool(_READ)
    async def list_k8s_namespace(
        self,
        cluster: ClusterArg = None,
        label_selector: LabelArg = None,
        limit: LimitArg = MAX_LIST_LIMIT,
        continue_token: ContinueArg = None,
    ) -> str:
        """List namespaces (name, phase, labels)."""
        page = await self._list(
            self._kubectl(cluster),
            "namespaces",
            label_selector=label_selector,
            limit=limit,
            continue_token=continue_token,
        )
        page["items"] = [
            {
                "name": (ns.get("metadata") or {}).get("name"),
                "phase": (ns.get("status") or {}).get("phase"),
                "labels": (ns.get("metadata") or {}).get("labels") or {},
            }
            for ns in page["items"]
        ]
        return dumps(page)

    @_tool(_READ)
    async def list_k8s_event(
        self,
        cluster: ClusterArg = None,
        namespace: ListNamespaceArg = None,
        involved_object_name: Annotated[str | None, Field(description="Only events about this object")] = (
            None
        ),
        involved_object_kind: Annotated[str | None, Field(description="Only events about this kind")] = (
            None
        ),
        limit: LimitArg = MAX_LIST_LIMIT,
        continue_token: ContinueArg = None,
    ) -> str:
        """List events (type, reason, object, message, count, last seen)."""
        fields = []
        if involved_object_name:
            fields.append(f"involvedObject.name={involved_object_name}")
        if involved_object_kind:
            fields.append(f"involvedObject.kind={involved_object_kind}")
        page = await self._list(
            self._kubectl(cluster),
            "events",
            version="v1",
            namespace=namespace,
            field_selector=",".join(fields) or None,
            limit=limit,
            continue_token=continue_token,
        )
        page["items"] = [_event_line(e) for e in page["items"]]
        return dumps(page)

    @_tool(_READ)
    async def list_k8s_pod(
        self,
        cluster: ClusterArg = None,
        namespace: ListNamespaceArg = None,
        label_selector: LabelArg = None,
        field_selector: FieldArg = None,
        limit: LimitArg = MAX_LIST_LIMIT,
        continue_token: ContinueArg = None,
    ) -> str:
        """List pods with their phase, node, readiness, restarts and images (get_k8s_resource for all)."""
        page = await self._list(
            self._kubectl(cluster),
            "pods",
            version="v1",
            namespace=namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            continue_token=continue_token,
        )
        page["items"] = [_pod_line(p) for p in page["items"]]
        return dumps(page)

    @_tool(_READ)
    async def get_k8s_pod_logs(
        self,
        name: NameArg,
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
        container: Annotated[str | None, Field(description="Container, when the pod has several")] = None,
        tail_lines: Annotated[int | None, Field(ge=1, description="Only the last N lines")] = 200,
        since_seconds: Annotated[int | None, Field(ge=1, description="Only lines newer than this")] = None,
        previous: Annotated[bool, Field(description="Logs of the previous (crashed) container")] = False,
    ) -> str:
        """A pod's log text (newest lines, at most 64k characters)."""
        kubectl = self._kubectl(cluster)
        text = await kubectl.pod(name, namespace or "default").logs(
            container=container, tail_lines=tail_lines, since_seconds=since_seconds, previous=previous
        )
        text, cut = tail_text(text)
        if cut:
            text = "[older lines cut: narrow with tail_lines or since_seconds]\n" + text
        return text

    @_tool(_WRITE, writes=True)
    async def scale_k8s_deployment(
        self,
        name: NameArg,
        replicas: Annotated[int, Field(ge=0, description="Desired replica count")],
        cluster: ClusterArg = None,
        namespace: NamespaceArg = None,
    ) -> str:
        """Set a deployment's replica count (the scale subresource)."""
        kubectl = self._kubectl(cluster)
        scale = await kubectl.deployment(name, namespace or "default").scale(replicas)
        return dumps(
            {
                "deployment": name,
                "namespace": namespace or "default",
                "replicas": (scale.get("spec") or {}).get("replicas", replicas),
            }
        )

    @_tool(_WRITE, writes=True)
    async def restart_k8s_deployment(
        self, name: NameArg, cluster: ClusterArg = None, namespace: NamespaceArg = None
    ) -> str:
        """Roll a deployment's pods, like kubectl rollout restart."""
        kubectl = self._kubectl(cluster)
        obj = await kubectl.deployment(name, namespace or "default").restart()
        template = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
        restarted = (template.get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt")
        return dumps({"deployment": name, "namespace": namespace or "default", "restartedAt": restarted})

    @_tool(_WRITE, writes=True)
    async def cordon_k8s_node(self, name: NameArg, cluster: ClusterArg = None) -> str:
        """Mark a node unschedulable."""
        obj = await self._kubectl(cluster).node(name).cordon()
        return dumps({"node": name, "unschedulable": bool((obj.get("spec") or {}).get("unschedulable"))})

    @_tool(_WRITE, writes=True)
    async def uncordon_k8s_node(self, name: NameArg, cluster: ClusterArg = None) -> str:
        """Make a node schedulable again."""
        obj = await self._kubectl(cluster).node(name).uncordon()
        return dumps({"node": name, "unschedulable": bool((obj.get("spec") or {}).get("unschedulable"))})


# -- small formatters ------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    """ISO 8601 text of a datetime, or None."""
    return value.isoformat() if value is not None else None


def _ref(obj: Any, fallback_name: str | None = None) -> Obj:
    """kind/namespace/name (and resourceVersion) of an object the server answered with."""
    if not isinstance(obj, dict):
        return {"name": fallback_name}
    meta = obj.get("metadata") or {}
    ref: Obj = {"kind": obj.get("kind"), "name": meta.get("name") or fallback_name}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if obj.get("kind") != "Status" and meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    return ref


def _status_word(answer: Obj) -> str:
    """One word for a delete answer: Success, Terminating (finalizers) or Deleted."""
    if answer.get("kind") == "Status":
        return str(answer.get("status") or "Success")
    if (answer.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return "Deleted"


def _mentions(event: Obj, obj: Obj) -> bool:
    """True when ``event`` is about ``obj`` (servers may ignore the field selector)."""
    involved = event.get("involvedObject") or {}
    meta = obj.get("metadata") or {}
    return involved.get("name") == meta.get("name") and involved.get("kind") in (None, obj.get("kind"))


def _event_line(event: Obj) -> Obj:
    """The columns of ``kubectl get events`` for one event."""
    involved = event.get("involvedObject") or {}
    meta = event.get("metadata") or {}
    return {
        "namespace": meta.get("namespace"),
        "type": event.get("type"),
        "reason": event.get("reason"),
        "object": f"{involved.get('kind', '?')}/{involved.get('name', '?')}",
        "message": event.get("message"),
        "count": event.get("count"),
        "last_seen": event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp"),
    }


def _pod_line(pod: Obj) -> Obj:
    """The columns of ``kubectl get pods -o wide`` (plus images and labels) for one pod."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "phase": status.get("phase"),
        "ready": f"{ready}/{len(spec.get('containers') or statuses)}",
        "restarts": sum(int(s.get("restartCount") or 0) for s in statuses),
        "node": spec.get("nodeName"),
        "ip": status.get("podIP"),
        "images": [c.get("image") for c in spec.get("containers") or []],
        "labels": meta.get("labels") or {},
        "created": meta.get("creationTimestamp"),
    }

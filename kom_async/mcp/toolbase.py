"""What the MCP tool groups share: their settings, the ``tool`` decorator (read-only check, time
limit, clean errors) and ``ToolBase`` (cluster lookup, queries, list paging)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import aiohttp
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from kom_async.clusters import Cluster, Clusters
from kom_async.config.policy import UNTRUSTED, ExecPolicy, TrustPolicy
from kom_async.errors import (
    KomError,
    KubeconfigRefused,
    KubernetesError,
    QueryError,
)
from kom_async.kubectl import Kubectl, Query
from kom_async.kubectl.discovery import ResourceInfo
from kom_async.kubectl.names import check_namespace
from kom_async.mcp.args import Obj
from kom_async.mcp.defaults import DEFAULT_MAX_CLUSTERS
from kom_async.mcp.output import (
    MAX_LIST_LIMIT,
    dumps,
    hide_secrets,
    iso,
    slim,
    strip_userinfo,
)
from kom_async.mcp.owners import Owners
from kom_async.mcp.results import ClusterInfo, EKSInfo, Page
from kom_async.scrub import scrub

log = logging.getLogger("kom_async.mcp")

P = ParamSpec("P")
S = TypeVar("S", bound="ToolBase")
R = TypeVar("R", bound=Mapping[str, Any])
T = TypeVar("T")


@dataclass(frozen=True)
class ToolSettings:
    """How the tools behave: exec and trust policy for tool-supplied kubeconfigs (untrusted by
    default), read-only (cluster writes; ``read_only_registry``: register/unregister too), time
    limit, the cap on agents' registrations, and whether Secret values are shown."""

    exec_policy: ExecPolicy
    read_only: bool = False
    request_timeout: float = 60.0
    trust: TrustPolicy = UNTRUSTED
    read_only_registry: bool = False
    max_clusters: int = DEFAULT_MAX_CLUSTERS
    show_secrets: bool = False


READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)
REGISTER = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)


@dataclass(frozen=True)
class _Spec:
    """What ``install`` needs to know about a tool method."""

    annotations: ToolAnnotations
    writes: bool
    registers: bool

    def refused(self, settings: ToolSettings) -> str | None:
        """Why a server with ``settings`` refuses this tool, or None."""
        if self.writes and settings.read_only:
            return "the server runs with --read-only, and {name} changes the cluster"
        if self.registers and settings.read_only_registry:
            return "the server runs with --read-only-registry, and {name} changes the registry"
        return None


def tool(
    annotations: ToolAnnotations,
    *,
    writes: bool = False,
    registers: bool = False,
    text: Callable[[Any], str] | None = None,
) -> Callable[
    [Callable[Concatenate[S, P], Awaitable[R]]], Callable[Concatenate[S, P], Awaitable[CallToolResult]]
]:
    """Mark a tool-group method as a tool; turn its failures into clean MCP tool errors.

    The method returns a typed result (its return annotation becomes the tool's outputSchema);
    the tool answers with that result as ``structuredContent`` and, as text, its compact JSON
    (or ``text(result)`` when given, e.g. a log as plain text)."""

    spec = _Spec(annotations, writes, registers)

    def decorate(
        fn: Callable[Concatenate[S, P], Awaitable[R]],
    ) -> Callable[Concatenate[S, P], Awaitable[CallToolResult]]:
        """Wrap ``fn`` with the read-only check, the time limit and error translation."""

        @functools.wraps(fn)
        async def run(self: S, *args: P.args, **kwargs: P.kwargs) -> CallToolResult:
            """Run the tool; any failure leaves as a ToolError with a one-line reason."""
            name = fn.__name__
            refusal = spec.refused(self.settings)
            if refusal:
                raise ToolError("refused: " + refusal.format(name=name))
            try:
                async with asyncio.timeout(self.settings.request_timeout):
                    return _answer(await fn(self, *args, **kwargs), text)
            except ToolError:
                raise
            except KubeconfigRefused as exc:
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
                reason = scrub(f"{type(exc).__name__}: {exc}")
                raise ToolError(f"could not reach the cluster: {reason}") from None
            except Exception as exc:
                log.exception("tool %s failed unexpectedly", name)
                raise ToolError(
                    f"internal error in {name} ({type(exc).__name__}); see the server log"
                ) from None

        run.__kom_tool__ = spec  # type: ignore[attr-defined]
        return cast("Callable[Concatenate[S, P], Awaitable[CallToolResult]]", run)

    return decorate


def _answer(result: Mapping[str, Any], text: Callable[[Any], str] | None) -> CallToolResult:
    """The tool call's answer: ``result`` as structured content (JSON values only, exactly what
    the compact JSON text says) and as text."""
    data = dumps(result)
    return CallToolResult(
        content=[TextContent(type="text", text=data if text is None else text(result))],
        structured_content=json.loads(data),
    )


class ToolBase:
    """What every tool group shares: the registry, the settings, lookups and list paging."""

    def __init__(self, clusters: Clusters, settings: ToolSettings) -> None:
        self.clusters = clusters
        self.settings = settings
        self.owners = Owners(clusters, settings.max_clusters)

    def install(self, server: MCPServer[Any]) -> list[str]:
        """Add every tool to ``server``; return their names."""
        names: list[str] = []
        for attr in dir(type(self)):
            spec = getattr(getattr(type(self), attr), "__kom_tool__", None)
            if not isinstance(spec, _Spec):
                continue
            method = getattr(self, attr)
            doc = inspect.cleandoc(method.__doc__ or "")
            if spec.refused(self.settings):
                doc += " (Disabled: this server runs read-only.)"
            # structured_output=True: a return type the SDK cannot describe fails here, at start-up
            server.add_tool(
                method, name=attr, description=doc, annotations=spec.annotations, structured_output=True
            )
            names.append(attr)
        return names

    # -- helpers ---------------------------------------------------------------------------
    def _shown(self, obj: Any, kind: str | None = None) -> Any:
        """What a tool may show of an object it read: Secret values hidden (their sizes shown)
        unless the server runs with --show-secrets. Every tool that returns objects calls this."""
        return obj if self.settings.show_secrets else hide_secrets(obj, kind)

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
        """The served resource the tool arguments name (same rules as ``_query``); an unknown one
        is a tool error that points to list_k8s_api_resources."""
        try:
            if version:
                return await kubectl.discovery.resolve_gvk(group or "", version, kind)
            return await kubectl.discovery.resolve(f"{kind}.{group}" if group else kind)
        except QueryError:
            asked = "/".join(p for p in (group, version, kind) if p)
            raise ToolError(
                f"cluster {kubectl.cluster_id!r} serves no kind {asked!r}: list_k8s_api_resources shows "
                "the kinds it serves (for a custom resource, pass its group and version too)"
            ) from None

    async def _one(
        self,
        cluster: str | None,
        kind: str,
        name: str,
        namespace: str | None,
        group: str | None = None,
        version: str | None = None,
    ) -> Query[Obj]:
        """A query for one named object in ``cluster`` (namespace "default" unless given), its
        name checked first and then its kind resolved (cached discovery)."""
        kubectl = self._kubectl(cluster)
        query = self._query(kubectl, kind, group, version).name(name)
        query = query.namespace(namespace) if namespace else query
        await self._resolve(kubectl, kind, group, version)
        return query

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
        show: Callable[[Obj], T] = slim,
    ) -> Page[T]:
        """One page of a list, each item as ``show`` makes it (default: the slimmed object), with
        the ``continue`` token and a hint on how to get the next."""
        if namespace not in (None, "", "*"):
            check_namespace(namespace)  # before discovery: a bad name sends nothing
        info = await self._resolve(kubectl, kind, group, version)  # cached: no extra round trip
        query = self._query(kubectl, kind, group, version)
        all_namespaces = not info.namespaced or namespace in (None, "", "*")
        query = query.all_namespaces() if all_namespaces else query.namespace(str(namespace))
        if label_selector:
            query = query.labels(label_selector)
        if field_selector:
            query = query.fields(field_selector)
        page = await query.page(max(1, min(int(limit), MAX_LIST_LIMIT)), continue_token)
        out: Page[T] = {
            "cluster": kubectl.cluster_id,
            "apiVersion": info.api_version,
            "kind": info.kind,
            "namespace": None if all_namespaces else namespace,
            "count": len(page.items),
            "items": [show(self._shown(item, info.kind)) for item in page.items],
        }
        if page.continue_token:
            left = f" ({page.remaining} more)" if page.remaining is not None else ""
            out["continue"] = page.continue_token
            out["next"] = (
                f"more objects exist{left}: call again with the same arguments and continue_token=<continue>"
            )
        return out

    async def _register_kubeconfig(
        self, kubeconfig: str, cluster_id: str | None, context: str | None, *, replace: bool, eks: bool
    ) -> Kubectl:
        """Register a kubeconfig given as YAML content or as a file path, under the server's exec
        and trust policies: a path only under the allowed directories (``--kubeconfig-dir``),
        checked before it is read."""
        text = kubeconfig.strip()
        if not text:
            raise ToolError(
                "kubeconfig is empty: pass the kubeconfig's YAML content or the path of a kubeconfig "
                "file in one of the server's kubeconfig directories"
            )
        trust = self.settings.trust
        options = {"replace": replace, "exec_policy": self.settings.exec_policy, "trust": trust}
        if not _is_content(text):
            real = trust.check_path(text, what="kubeconfig path")
            by_path = self.clusters.register_eks_by_path if eks else self.clusters.register_by_path
            return await self._agent_registers(
                cluster_id,
                replace,
                lambda: by_path(real, cluster_id, context, **options),  # type: ignore[arg-type]
            )
        by_text = self.clusters.register_eks_by_string if eks else self.clusters.register_by_string
        return await self._agent_registers(
            cluster_id,
            replace,
            lambda: by_text(kubeconfig, cluster_id, context, **options),  # type: ignore[arg-type]
        )

    async def _agent_registers(
        self, cluster_id: str | None, replace: bool, register: Callable[[], Awaitable[Kubectl]]
    ) -> Kubectl:
        """Run one registration for an agent: ownership and cap checked first, the new cluster
        recorded as the agent's (so the agent, and only it, may replace or remove it later)."""
        with self.owners.registering(cluster_id, replace):
            kubectl = await register()
            self.owners.record(kubectl)
        return kubectl

    @staticmethod
    def _cluster_info(cluster: Cluster) -> ClusterInfo:
        """What list_k8s_clusters shows of a cluster: identity and auth health, never a token."""
        info: ClusterInfo = {
            "id": cluster.id,
            "server": strip_userinfo(cluster.server),
            "is_eks": cluster.is_eks,
            "auth": cluster.auth_kind,
        }
        if cluster.eks is not None:
            eks: EKSInfo = {"cluster_name": cluster.eks.cluster_name, "region": cluster.eks.region}
            if cluster.eks.role_arn:
                eks["role_arn"] = cluster.eks.role_arn
            if cluster.eks.profile:
                eks["profile"] = cluster.eks.profile
            info["eks"] = eks
        stats = cluster.auth_stats
        if stats is not None:
            info["token"] = {
                "source": stats.source,
                "expires_at": iso(stats.expires_at),
                "fetches": stats.fetches,
                "refresh_failures": stats.refresh_failures,
                "unauthorized_recoveries": stats.unauthorized_recoveries,
                "last_success": iso(stats.last_success),
                "last_error": stats.last_error,
            }
        return info


def _is_content(text: str) -> bool:
    """True for kubeconfig YAML (several lines, or a one-line flow mapping); False for a path."""
    return "\n" in text or text.startswith(("{", "---", "apiVersion:", "kind:", "clusters:"))

"""Kubectl: kom's fluent chain, async. Pick a resource, narrow it, then act.

::

    pods = await kubectl.resource("pods").namespace("web").labels("app=web").list()
    await kubectl.resource("deploy").namespace("web").name("api").scale(3)

Discovery is cached per cluster (so a chain costs no extra round trips). All requests go
through the ``ApiClient``'s ``call_api``, so its authentication applies to every one of them.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast, overload

from kom_async.errors import QueryError
from kom_async.kubectl._constants import DEFAULT_FIELD_MANAGER, DEFAULT_NAMESPACE, Obj
from kom_async.kubectl._query_base import Selected
from kom_async.kubectl.apply import apply_documents, load_documents
from kom_async.kubectl.context import QueryContext
from kom_async.kubectl.discovery import DEFAULT_TTL, Discovery, ResourceInfo
from kom_async.kubectl.models import is_model_class
from kom_async.kubectl.pod import PodQuery
from kom_async.kubectl.query import Query

T = TypeVar("T")


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
        self._ctx = QueryContext(
            api_client, cluster_id=cluster_id, discovery_ttl=discovery_ttl, request_timeout=request_timeout
        )

    def __repr__(self) -> str:
        return f"Kubectl(cluster_id={self._ctx.cluster_id!r})"

    @property
    def api_client(self) -> Any:
        """The kubernetes_asyncio ``ApiClient`` every request goes through."""
        return self._ctx.api_client

    @property
    def cluster_id(self) -> str:
        """The registry id of this cluster ("" when built by hand)."""
        return self._ctx.cluster_id

    @property
    def discovery(self) -> Discovery:
        """This cluster's cached discovery (``loads`` counts discovery rounds)."""
        return self._ctx.discovery

    def invalidate_discovery(self) -> None:
        """Forget cached discovery, e.g. after installing CRDs by other means."""
        self._ctx.discovery.invalidate()

    async def api_resources(self) -> list[ResourceInfo]:
        """What ``kubectl api-resources`` shows: every resource, preferred versions only."""
        return [r for r in await self._ctx.discovery.resources() if r.preferred]

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
            return Query(self._ctx, Selected(name=what.strip()))
        if is_model_class(what):
            return Query(self._ctx, Selected(model=what))
        if is_model_class(type(what)):  # a model instance: use its class
            return Query(self._ctx, Selected(model=type(what)))
        raise QueryError(
            f"resource() takes a kind name or a kubernetes_asyncio model class, not {type(what).__name__}"
        )

    def gvk(self, group: str, version: str, kind: str) -> Query[Obj]:
        """Select by exact group, version and kind; works for anything discovery serves."""
        if not version or not kind:
            raise QueryError("gvk() needs a version and a kind, e.g. gvk('apps', 'v1', 'Deployment')")
        return Query(self._ctx, Selected(gvk=(group or "", version, kind)))

    crd = gvk
    """Alias of :meth:`gvk`, reading better for custom resources."""

    def pod(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> PodQuery:
        """One pod, ready for ``get()``, ``logs()``, ``exec()``, ``port_forward()``..."""
        pod = PodQuery(self._ctx, Selected(name="pods")).namespace(namespace).name(name)
        return cast(PodQuery, pod)  # narrowing keeps the class (dataclasses.replace)

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
        dry_run: bool = False,
    ) -> list[Obj]:
        """Create or update every object in a multi-document YAML; return what was stored.

        Documents are applied in order (so a Namespace or CRD can precede its users).
        Namespaced objects without a namespace go to ``namespace`` or "default".
        Server-side apply is used by default; ``server_side=False`` creates, and on
        AlreadyExists merge-patches the document instead. ``dry_run=True`` sends every
        request with ``dryRun=All``: the server answers, nothing is stored.
        """
        return await apply_documents(
            self.gvk,
            load_documents(yaml_text),
            field_manager=field_manager,
            namespace=namespace,
            force=force,
            server_side=server_side,
            dry_run=dry_run,
        )

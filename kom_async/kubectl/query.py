"""Query: an immutable description of "which objects", and the coroutines that act on them.

Build one with ``Kubectl.resource()``/``gvk()``; every narrowing step returns a new query, so
a half-built chain can be stored and reused from many tasks at once. Names resolve through
the cluster's cached discovery, so custom resources work exactly like built-in ones.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import aiohttp

from kom_async.errors import InvalidName, QueryError
from kom_async.kubectl._constants import (
    ALL_NAMESPACES,
    DEFAULT_FIELD_MANAGER,
    LIST_PAGE_SIZE,
    PATCH_CONTENT_TYPES,
    Obj,
    PatchType,
    Propagation,
)
from kom_async.kubectl._query_base import QueryBase
from kom_async.kubectl.discovery import ResourceInfo
from kom_async.kubectl.logs import LogStream, log_params
from kom_async.kubectl.names import check_name, check_namespace
from kom_async.kubectl.params import checked_page_size, delete_options, dry_run_param, filled
from kom_async.kubectl.selectors import Selector, to_selector
from kom_async.kubectl.wait import parse_condition, wait_for
from kom_async.kubectl.watch import Watch, WatchFeed
from kom_async.transport.rest import Target, encode_query

T = TypeVar("T")

_SCALABLE = ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")
_RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One list response: its objects and where the next page starts."""

    items: builtins.list[T]
    continue_token: str | None
    """Pass to ``page(continue_token=...)`` for the next page; None on the last page."""
    remaining: int | None = None
    """The server's estimate of objects after this page (``remainingItemCount``), if given."""
    resource_version: str | None = None
    """The list's resourceVersion (where a watch of the same objects could start)."""


@dataclass(frozen=True, slots=True, repr=False)
class Query(QueryBase[T]):
    """An immutable, reusable description of "which objects"; its coroutines act on them.

    Build it with :meth:`Kubectl.resource` or :meth:`Kubectl.gvk`; every narrowing method
    returns a new query and leaves this one unchanged.
    """

    # -- narrowing -----------------------------------------------------------------

    def namespace(self, namespace: str) -> Query[T]:
        """Narrow to one namespace; ``"*"`` means all namespaces (list, watch, count)."""
        if not isinstance(namespace, str) or not namespace.strip():
            raise InvalidName("namespace() needs a name, or '*' for all namespaces", value=None)
        namespace = namespace.strip()
        if namespace != ALL_NAMESPACES:
            check_namespace(namespace)
        return replace(self, _namespace=namespace)

    def all_namespaces(self) -> Query[T]:
        """Same as ``.namespace("*")``."""
        return replace(self, _namespace=ALL_NAMESPACES)

    def name(self, name: str) -> Query[T]:
        """Narrow to one object by name."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidName("name() needs a non-empty object name", value=None)
        return replace(self, _name=check_name(name.strip()))

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
        items: builtins.list[T] = []
        token: str | None = None
        while True:
            page = await self.page(self._limit or page_size, token)
            items.extend(page.items)
            token = page.continue_token
            if self._limit is not None or not token:
                return items

    async def page(self, limit: int | None = None, continue_token: str | None = None) -> Page[T]:
        """One list request: up to ``limit`` objects (default: ``limit()`` or 500) and the token
        of the next page.

        Pass ``page.continue_token`` back, with the same query, for the next page; it is None on
        the last one. The server forgets tokens after a few minutes (then a 410
        ``KubernetesError``): list again from the start.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise QueryError(f"page() needs a positive limit, got {limit!r}")
        info = await self._resolve()
        size = limit or self._limit or LIST_PAGE_SIZE
        data = await self._list_page(info, self._collection_namespace(info), size, continue_token or None)
        meta = data.get("metadata") or {}
        remaining = meta.get("remainingItemCount")
        return Page(
            items=[self._out(info, item) for item in data.get("items") or []],
            continue_token=meta.get("continue") or None,
            remaining=remaining if isinstance(remaining, int) else None,
            resource_version=meta.get("resourceVersion") or None,
        )

    def pages(self, limit: int | None = None) -> AsyncIterator[builtins.list[T]]:
        """Iterate over list pages of ``limit`` (else ``.limit()``, else 500) objects each,
        following ``continue`` tokens: ``async for page in q.pages(limit=500)``."""
        return self._pages(page_size=checked_page_size(limit or self._limit))

    async def items(self, *, page_size: int | None = None) -> AsyncIterator[T]:
        """Every match, one at a time, fetched a page (default 500) at a time:
        ``async for pod in q.items()`` holds one page in memory, never the whole list."""
        async for page in self._pages(page_size=checked_page_size(page_size or self._limit)):
            for item in page:
                yield item

    async def count(self) -> int:
        """How many objects match (uses the server's ``remainingItemCount`` when given)."""
        info = await self._resolve()
        namespace = self._collection_namespace(info)
        total = 0
        token: str | None = None
        while True:
            data = await self._list_page(info, namespace, LIST_PAGE_SIZE, token)
            total += len(data.get("items") or [])
            meta = data.get("metadata") or {}
            token = meta.get("continue") or None
            remaining = meta.get("remainingItemCount")
            if token and isinstance(remaining, int):
                return total + remaining
            if not token:
                return total

    async def create(self, obj: Any, *, dry_run: bool = False) -> T:
        """Create ``obj`` (a dict or model); the query's namespace/name fill in blanks.
        ``dry_run=True``: the server validates and answers, and stores nothing."""
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
            query=dry_run_param(dry_run),
            body=body,
        )
        self._after_write(info)
        return self._out(info, data)

    async def update(self, obj: Any, *, dry_run: bool = False) -> T:
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
            query=dry_run_param(dry_run),
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
        dry_run: bool = False,
    ) -> T:
        """Patch the named object: ``merge``, ``strategic``, ``json`` (a list of ops) or
        ``apply`` (server-side apply; ``field_manager`` defaults to "kom-async")."""
        self._require_name("patch")
        content_type = PATCH_CONTENT_TYPES.get(type)
        if content_type is None:
            raise QueryError(f"patch type must be one of {sorted(PATCH_CONTENT_TYPES)}, not {type!r}")
        payload = self._ctx.to_plain(body)
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
        query = [*encode_query({"fieldManager": field_manager, "force": force}), *dry_run_param(dry_run)]
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
        propagation_policy: Propagation | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete the named object; returns the server's answer (the object or a Status)."""
        self._require_name("delete")
        info = await self._resolve()
        namespace = self._object_namespace(info, None, "delete")
        data = await self._rest.json(
            "DELETE",
            info.path(namespace, self._name),
            target=self._target(info, namespace),
            query=dry_run_param(dry_run),
            body=delete_options(propagation_policy, grace_period_seconds),
        )
        self._after_write(info)
        return data if isinstance(data, dict) else {}

    async def delete_collection(
        self,
        *,
        label_selector: Selector | None = None,
        field_selector: Selector | None = None,
        all: bool = False,
        propagation_policy: Propagation | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> builtins.list[T]:
        """Delete every object the query's selectors (and these) match, in one request;
        returns what the server deleted. With no selector at all it needs ``all=True``."""
        if self._name is not None:
            raise QueryError("delete_collection() deletes by selector: drop .name(...) or use delete()")
        query = self
        if label_selector is not None:
            query = query.labels(label_selector)
        if field_selector is not None:
            query = query.fields(field_selector)
        labels, fields = query._selectors()
        if not labels and not fields and not all:
            raise QueryError(
                "delete_collection() without a selector deletes everything in the namespace: "
                "pass label_selector=... or field_selector=..., or all=True if that is what you mean"
            )
        info = await query._resolve()
        if self._namespace == ALL_NAMESPACES and info.namespaced:
            raise QueryError("delete_collection() works in one namespace at a time: use .namespace('...')")
        namespace = query._collection_namespace(info)
        selectors = encode_query({"labelSelector": labels, "fieldSelector": fields})
        data = await self._rest.json(
            "DELETE",
            info.path(namespace),
            target=self._target(info, namespace),
            query=[*selectors, *dry_run_param(dry_run)],
            body=delete_options(propagation_policy, grace_period_seconds),
        )
        self._after_write(info)
        items = data.get("items") if isinstance(data, dict) else None
        return [self._out(info, item) for item in items or [] if isinstance(item, dict)]

    async def wait(self, condition: str, *, timeout: float | None = 30.0) -> builtins.list[T]:
        """Wait until every matching object meets ``condition``, like ``kubectl wait --for``:
        ``"delete"``, ``"condition=Available"`` (``=False`` too) or
        ``"jsonpath={.status.phase}=Running"``. Returns the objects as they met it (none
        for "delete"); WaitTimeout after ``timeout`` seconds (None: never); NotFound for a
        missing named object or one deleted while waiting for a condition."""
        check = parse_condition(condition)
        if timeout is not None and timeout <= 0:
            raise QueryError("wait() needs a positive timeout (seconds), or None to wait forever")
        info = await self._resolve()
        met = await wait_for(self._watch_feed(plain=True), info, check, timeout=timeout, name=self._name)
        return [self._out(info, obj) for obj in met]

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
            self._watch_feed(),
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            send_initial=send_initial,
            max_retries=max_retries,
        )

    # -- daily helpers -------------------------------------------------------------

    def logs(
        self,
        *,
        container: str | None = None,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        previous: bool = False,
        timestamps: bool = False,
        follow: bool = False,
    ) -> LogStream:
        """A pod's log (``kubectl logs``): ``await`` it for the text, ``async for`` its lines;
        ``follow=True`` yields lines as they are written until you stop (break, cancel)."""
        params = log_params(container, tail_lines, since_seconds, previous, timestamps, follow)

        async def where() -> tuple[str, Target]:
            self._require_name("logs")
            info = await self._resolve()
            self._require_kind(info, "logs", ("Pod",))
            namespace = self._object_namespace(info, None, "logs")
            return info.path(namespace, self._name) + "/log", self._target(info, namespace)

        return LogStream(self._rest, where, params, follow=follow)

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
            content_type=PATCH_CONTENT_TYPES["merge"],
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

    async def _set_unschedulable(self, value: bool | None) -> T:
        verb = "cordon" if value else "uncordon"  # uncordon removes the field, like kubectl
        self._require_name(verb)
        info = await self._resolve()
        self._require_kind(info, verb, ("Node",))
        return await self._patch_resolved(info, {"spec": {"unschedulable": value}}, verb)

    async def _pages(self, *, page_size: int) -> AsyncIterator[builtins.list[T]]:
        token: str | None = None
        while True:
            page = await self.page(page_size, token)
            yield page.items
            token = page.continue_token
            if not token:
                return

    def _watch_feed(self, *, plain: bool = False) -> WatchFeed[Any]:
        async def list_page(info: ResourceInfo, limit: int, token: str | None) -> Obj:
            return await self._list_page(info, self._collection_namespace(info), limit, token)

        async def open_stream(
            info: ResourceInfo, params: Mapping[str, object | None]
        ) -> aiohttp.ClientResponse:
            namespace = self._collection_namespace(info)
            labels, fields = self._selectors()
            query = encode_query({**params, "labelSelector": labels, "fieldSelector": fields})
            return await self._rest.open(
                "GET", info.path(namespace), target=self._target(info, namespace), query=query
            )

        return WatchFeed(
            describe=repr(self),
            resolve=self._resolve,
            list_page=list_page,
            open=open_stream,
            convert=filled if plain else self._out,
            target=lambda info: self._target(info, self._collection_namespace(info)),
            limits=self._rest.limits,
        )

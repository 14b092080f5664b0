"""What a query is and how it addresses objects: its fields, namespace rules, request targets.

``Query`` (the verbs) builds on ``QueryBase``; keeping the addressing here keeps each module
small and lets the verbs read as what they do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kom_async.errors import QueryError
from kom_async.kubectl._constants import ALL_NAMESPACES, DEFAULT_NAMESPACE, PATCH_CONTENT_TYPES, Obj
from kom_async.kubectl.context import QueryContext
from kom_async.kubectl.discovery import ResourceInfo
from kom_async.kubectl.names import check_name, escape_field_value
from kom_async.kubectl.selectors import combine
from kom_async.transport.rest import RestClient, Target, encode_query

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Selected:
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
class QueryBase(Generic[T]):
    """The immutable state of a query and the internals its verbs share."""

    _ctx: QueryContext = field(repr=False)
    _selected: Selected
    _namespace: str | None = None
    _name: str | None = None
    _labels: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()
    _limit: int | None = None

    def __repr__(self) -> str:
        parts = [self._selected.describe()]
        for label, value in (
            ("cluster", self._ctx.cluster_id or None),
            ("namespace", self._namespace),
            ("name", self._name),
            ("labels", combine(self._labels)),
            ("fields", combine(self._fields)),
            ("limit", self._limit),
        ):
            if value is not None:
                parts.append(f"{label}={value!r}")
        return f"Query({', '.join(parts)})"

    @property
    def _rest(self) -> RestClient:
        return self._ctx.rest

    async def _resolve(self) -> ResourceInfo:
        discovery = self._ctx.discovery
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
            fields.append(f"metadata.name={escape_field_value(self._name)}")
        return combine(self._labels), combine(fields)

    def _body(self, info: ResourceInfo, obj: Any, verb: str) -> Obj:
        body = self._ctx.to_plain(obj)
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
        if meta.get("name"):  # create() POSTs to the collection: the URL never checks it
            check_name(meta["name"], what=f"{verb}(): metadata.name")
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
        result: T = self._ctx.to_model(data, self._selected.model)
        return result

    def _after_write(self, info: ResourceInfo) -> None:
        if info.group == "apiextensions.k8s.io" and info.plural == "customresourcedefinitions":
            self._ctx.discovery.invalidate()  # the set of served resources changed

    async def _patch_resolved(self, info: ResourceInfo, patch: Obj, verb: str) -> T:
        namespace = self._object_namespace(info, None, verb)
        data = await self._rest.json(
            "PATCH",
            info.path(namespace, self._name),
            target=self._target(info, namespace),
            body=patch,
            content_type=PATCH_CONTENT_TYPES["merge"],
        )
        return self._out(info, data)

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

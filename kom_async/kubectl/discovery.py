"""The API server's discovery, cached per cluster: which resources exist and how to name them.

One :class:`Discovery` lives on each :class:`~kom_async.kubectl.Kubectl`. It loads
``/api`` and ``/apis`` (aggregated discovery: two requests in all) or, from older
servers, every group version too (concurrently); keeps the result for a TTL; and lets any
number of concurrent callers share a single load (single-flight).
Names resolve like kubectl: kind, plural, singular or short name, optionally qualified
with ``.group`` or ``.version.group``; the core group wins ties, then ``/apis`` order.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kom_async.errors import KubernetesError, QueryError
from kom_async.kubectl.names import check_name, check_namespace, is_group, is_path_segment, is_version
from kom_async.transport.rest import RestClient, Target

DEFAULT_TTL = 600.0
"""Seconds a discovery result is trusted before it is loaded again."""

_AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)

MISS_RELOAD_INTERVAL = 2.0
"""An unknown name reloads discovery (a CRD may be new) at most this often, in seconds."""

# Only used when the server's discovery gives a built-in resource no shortNames.
_FALLBACK_SHORT_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): ("po",),
    ("", "services"): ("svc",),
    ("", "configmaps"): ("cm",),
    ("", "namespaces"): ("ns",),
    ("", "nodes"): ("no",),
    ("", "events"): ("ev",),
    ("", "persistentvolumeclaims"): ("pvc",),
    ("", "serviceaccounts"): ("sa",),
    ("apps", "deployments"): ("deploy",),
    ("apps", "statefulsets"): ("sts",),
    ("apps", "daemonsets"): ("ds",),
    ("apps", "replicasets"): ("rs",),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("crd", "crds"),
}

_MODEL_NAME = re.compile(r"^([A-Z][a-z0-9]*?)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$")


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One resource the server serves, e.g. ``apps/v1 deployments (Deployment)``."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    preferred: bool = True

    @property
    def api_version(self) -> str:
        """``"v1"`` for the core group, ``"group/version"`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path of the collection or of one object (``namespace=None``: all)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [base]
        if self.namespaced and namespace is not None:
            parts.append(f"namespaces/{_quote(check_namespace(namespace))}")
        parts.append(self.plural)
        if name is not None:
            parts.append(_quote(check_name(name)))
        return "/".join(parts)


def _quote(segment: str) -> str:
    return quote(segment, safe="")


def model_identity(model: type) -> tuple[str | None, str, str]:
    """Read ``(group hint, version, kind)`` from a kubernetes_asyncio model class name.

    ``V1Pod`` gives ``(None, "v1", "Pod")``; ``EventsV1Event`` gives ``("events", "v1",
    "Event")``; ``CoreV1Event`` gives ``("", "v1", "Event")``.
    """
    match = _MODEL_NAME.match(model.__name__)
    if not match or not hasattr(model, "openapi_types"):
        raise QueryError(
            f"{model.__name__} is not a kubernetes_asyncio model class; pass a kind name "
            "such as 'Pod', or use gvk(group, version, kind)"
        )
    prefix, version, kind = match.groups()
    hint = None if prefix is None else ("" if prefix == "Core" else prefix.lower())
    return hint, version.lower(), kind


class Discovery:
    """Cached, single-flight view of the server's API resources."""

    def __init__(
        self,
        rest: RestClient,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rest = rest
        self.ttl = ttl
        self._clock = clock
        self._resources: tuple[ResourceInfo, ...] | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._generation = 0
        self.loads = 0
        """How many discovery rounds ran (for tests and stats)."""

    def invalidate(self) -> None:
        """Forget the cached result; the next resolution loads discovery again."""
        self._resources = None
        self._generation += 1

    async def resources(self) -> tuple[ResourceInfo, ...]:
        """All resources, preferred versions first; loads at most once per TTL."""
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:  # single flight: waiters find the fresh result
            cached = self._fresh()
            if cached is not None:
                return cached
            generation = self._generation
            resources = await self._load()
            self.loads += 1
            if generation == self._generation:  # not invalidated while loading
                self._resources = resources
                self._loaded_at = self._clock()
            return resources

    def _fresh(self) -> tuple[ResourceInfo, ...] | None:
        if self._resources is not None and self._clock() - self._loaded_at < self.ttl:
            return self._resources
        return None

    async def resolve(self, name: str) -> ResourceInfo:
        """Find a resource by kind, plural, singular or short name (``name.group`` works)."""
        found = self._lookup(await self.resources(), name)
        if found is None and await self._reload_for_miss():
            found = self._lookup(await self.resources(), name)
        if found is None:
            raise QueryError(
                f"the server has no resource named {name!r}; check `api_resources()` for "
                "the names it knows, or use gvk(group, version, kind) for a custom resource"
            )
        return found

    async def resolve_gvk(self, group: str, version: str, kind: str) -> ResourceInfo:
        """Find the resource for an exact group, version and kind (or plural)."""
        found = self._lookup_gvk(await self.resources(), group, version, kind)
        if found is None and await self._reload_for_miss():
            found = self._lookup_gvk(await self.resources(), group, version, kind)
        if found is None:
            gv = f"{group}/{version}" if group else version
            raise QueryError(
                f"the server does not serve kind {kind!r} in {gv!r}; is the CRD installed "
                "and established? (discovery is cached; kubectl.invalidate_discovery() "
                "forces a reload)"
            )
        return found

    async def resolve_model(self, model: type) -> ResourceInfo:
        """Find the resource a kubernetes_asyncio model class (``V1Pod``) stands for."""
        hint, version, kind = model_identity(model)
        found = self._lookup_model(await self.resources(), hint, version, kind)
        if found is None and await self._reload_for_miss():
            found = self._lookup_model(await self.resources(), hint, version, kind)
        if found is None:
            raise QueryError(
                f"the server serves no {kind!r} in version {version!r} "
                f"(from model {model.__name__}); use gvk(group, version, kind)"
            )
        return found

    async def _reload_for_miss(self) -> bool:
        """Reload once for an unknown name unless discovery is very recent."""
        if self._resources is not None and self._clock() - self._loaded_at < MISS_RELOAD_INTERVAL:
            return False
        self.invalidate()
        return True

    @staticmethod
    def _lookup(resources: Iterable[ResourceInfo], name: str) -> ResourceInfo | None:
        wanted = name.strip()
        lowered = wanted.lower()
        resource, _, qualifier = lowered.partition(".")
        version_q, group_q = None, qualifier
        if qualifier:
            first, _, rest = qualifier.partition(".")
            if re.fullmatch(r"v\d+(?:alpha\d+|beta\d+)?", first):
                version_q, group_q = first, rest
        candidates = list(resources)
        # Exact kind (case-sensitive) first, then the case-insensitive names.
        for info in candidates:
            if info.preferred and info.kind == wanted:
                return info
        for info in candidates:
            if qualifier:
                if info.group != group_q or (version_q and info.version != version_q):
                    continue
                if not version_q and not info.preferred:
                    continue
            elif not info.preferred:
                continue
            names = {info.plural, info.singular, info.kind.lower(), *info.short_names}
            if resource in names:
                return info
        return None

    @staticmethod
    def _lookup_gvk(
        resources: Iterable[ResourceInfo], group: str, version: str, kind: str
    ) -> ResourceInfo | None:
        lowered = kind.lower()
        for info in resources:
            if info.group == group and info.version == version:
                if info.kind == kind or lowered in (info.kind.lower(), info.plural):
                    return info
        return None

    @staticmethod
    def _lookup_model(
        resources: Iterable[ResourceInfo], hint: str | None, version: str, kind: str
    ) -> ResourceInfo | None:
        for info in resources:  # core group comes first, so it wins ties like kubectl
            if info.kind != kind or info.version != version:
                continue
            if hint is None or info.group == hint or info.group.split(".")[0] == hint:
                return info
        return None

    async def _load(self) -> tuple[ResourceInfo, ...]:
        # Servers with aggregated discovery (Kubernetes 1.26+) answer everything in these
        # two requests; older ones answer the group lists and we fetch each group version.
        target = Target(kind="APIResourceList")
        core, groups = await asyncio.gather(
            self._rest.json("GET", "/api", target=target, accept=_AGGREGATED_ACCEPT),
            self._rest.json("GET", "/apis", target=target, accept=_AGGREGATED_ACCEPT),
        )
        resources: list[ResourceInfo] = []
        plan: list[tuple[str, str, bool]] = []  # (group, version, preferred)
        if _is_aggregated(core):
            resources.extend(_parse_aggregated(core))
        else:
            for index, version in enumerate((core or {}).get("versions") or ["v1"]):
                if is_version(str(version)):
                    plan.append(("", str(version), index == 0))
        if _is_aggregated(groups):
            resources.extend(_parse_aggregated(groups))
            groups = None
        for group in (groups or {}).get("groups") or []:
            preferred = ((group.get("preferredVersion") or {}).get("version")) or None
            versions = [v.get("version") for v in group.get("versions") or [] if v.get("version")]
            if preferred is None and versions:
                preferred = versions[0]
            ordered = [preferred, *(v for v in versions if v != preferred)]
            name = str(group.get("name") or "")
            for version in ordered:
                if version and is_version(str(version)) and is_group(name) and name:
                    plan.append((name, str(version), version == preferred))
        lists = await asyncio.gather(*(self._group_version(g, v) for g, v, _ in plan))
        legacy: list[ResourceInfo] = []
        for (group, version, preferred), listing in zip(plan, lists, strict=True):
            legacy.extend(_parse_resource_list(group, version, preferred, listing))
        core_first = sorted(legacy + resources, key=lambda r: r.group != "")  # stable sort
        return tuple(core_first)

    async def _group_version(self, group: str, version: str) -> dict[str, object] | None:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = await self._rest.json("GET", path, target=Target(kind="APIResourceList"))
        except KubernetesError as exc:
            # An aggregated API that is down must not make every other resource unusable.
            if exc.status_code in (404, 503):
                return None
            raise
        return listing if isinstance(listing, dict) else None


def _is_aggregated(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "APIGroupDiscoveryList"


def _parse_aggregated(doc: dict[str, Any]) -> list[ResourceInfo]:
    """Read an ``APIGroupDiscoveryList`` (apidiscovery.k8s.io v2/v2beta1)."""
    out: list[ResourceInfo] = []
    for item in doc.get("items") or []:
        group = str((item.get("metadata") or {}).get("name") or "")
        for index, entry in enumerate(item.get("versions") or []):
            version = str(entry.get("version") or "")
            if not is_version(version) or not is_group(group):
                continue
            for res in entry.get("resources") or []:
                plural = str(res.get("resource") or "")
                kind = str((res.get("responseKind") or {}).get("kind") or "")
                if not kind or not is_path_segment(plural):
                    continue
                shorts = tuple(str(n) for n in res.get("shortNames") or ())
                out.append(
                    ResourceInfo(
                        group=group,
                        version=version,
                        kind=kind,
                        plural=plural,
                        namespaced=res.get("scope") == "Namespaced",
                        singular=str(res.get("singularResource") or "") or kind.lower(),
                        short_names=shorts or _FALLBACK_SHORT_NAMES.get((group, plural), ()),
                        verbs=tuple(str(v) for v in res.get("verbs") or ()),
                        subresources=tuple(
                            str(sub.get("subresource"))
                            for sub in res.get("subresources") or ()
                            if sub.get("subresource")
                        ),
                        preferred=index == 0,  # versions come in preference order
                    )
                )
    return out


def _parse_resource_list(
    group: str, version: str, preferred: bool, listing: dict[str, object] | None
) -> list[ResourceInfo]:
    if not listing:
        return []
    raw = listing.get("resources")
    entries = [r for r in raw if isinstance(r, dict)] if isinstance(raw, list) else []
    subresources: dict[str, list[str]] = {}
    for entry in entries:
        name = str(entry.get("name", ""))
        if "/" in name:
            parent, _, sub = name.partition("/")
            subresources.setdefault(parent, []).append(sub)
    out: list[ResourceInfo] = []
    for entry in entries:
        plural = str(entry.get("name", ""))
        if not is_path_segment(plural):  # "pods/log" is a subresource; ".." a hostile server
            continue
        shorts = tuple(str(s) for s in entry.get("shortNames") or ())
        if not shorts:
            shorts = _FALLBACK_SHORT_NAMES.get((group, plural), ())
        out.append(
            ResourceInfo(
                group=group,
                version=version,
                kind=str(entry.get("kind", "")),
                plural=plural,
                namespaced=bool(entry.get("namespaced", False)),
                singular=str(entry.get("singularName") or "") or str(entry.get("kind", "")).lower(),
                short_names=shorts,
                verbs=tuple(str(v) for v in entry.get("verbs") or ()),
                subresources=tuple(subresources.get(plural, ())),
                preferred=preferred,
            )
        )
    return out

"""An in-memory object store for one lab cluster: resourceVersions, lists, and watch fan-out."""

from __future__ import annotations

import asyncio
import copy
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kom_async.lab.resources import ResourceType
from kom_async.lab.status import ApiError

Obj = dict[str, Any]
Key = tuple[str, str]  # (group, plural)
DROP = object()
"""Queued to a watcher to make the server cut its connection (a simulated network drop)."""


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change: ADDED, MODIFIED or DELETED, with the object as it was then."""

    rv: int
    key: Key
    type: str
    obj: Obj


@dataclass(eq=False)
class Watcher:
    """One open watch: which objects it wants and a queue the store feeds."""

    key: Key
    namespace: str | None
    match: Callable[[Obj], bool]
    queue: asyncio.Queue[WatchEvent | object] = field(default_factory=asyncio.Queue)

    def wants(self, event: WatchEvent) -> bool:
        """Whether this watch should see ``event``."""
        if event.key != self.key:
            return False
        if self.namespace and event.obj.get("metadata", {}).get("namespace") != self.namespace:
            return False
        return self.match(event.obj)


def sort_key(obj: Obj) -> str:
    """Where an object sorts in a list: ``namespace/name`` (or ``name``), as etcd orders its keys."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name', '')}" if ns else str(meta.get("name", ""))


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ObjectStore:
    """Objects by (group, plural) then (namespace, name), one resourceVersion counter."""

    def __init__(self, now: Callable[[], datetime], *, history: int = 5000) -> None:
        self._now = now
        self._rv = 1
        self._objects: dict[Key, dict[tuple[str, str], Obj]] = {}
        self._events: deque[WatchEvent] = deque(maxlen=history)
        self._compacted_rv = 0
        self.watchers: set[Watcher] = set()

    @property
    def resource_version(self) -> int:
        """The latest resourceVersion handed out."""
        return self._rv

    @property
    def compacted_rv(self) -> int:
        """History before this resourceVersion is gone (watches and continue tokens get 410)."""
        return self._compacted_rv

    def compact(self) -> None:
        """Forget all history up to now, as etcd compaction does."""
        self._events.clear()
        self._compacted_rv = self._rv

    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(rt.key, {})

    def _emit(self, rt: ResourceType, kind: str, obj: Obj) -> None:
        if len(self._events) == self._events.maxlen:
            self._compacted_rv = self._events[0].rv
        event = WatchEvent(self._rv, rt.key, kind, copy.deepcopy(obj))
        self._events.append(event)
        for watcher in list(self.watchers):
            if watcher.wants(event):
                watcher.queue.put_nowait(event)

    def _bump(self, obj: Obj) -> None:
        self._rv += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._rv)

    # -- reads --------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        """A copy of one object, or 404."""
        obj = self._bucket(rt).get((namespace if rt.namespaced else "", name))
        if obj is None:
            raise ApiError.not_found(rt.plural, name, rt.group)
        return copy.deepcopy(obj)

    def find(self, key: Key, namespace: str, name: str) -> Obj | None:
        """A copy of one namespaced object by (group, plural), or None (for the lab's own knobs)."""
        obj = self._objects.get(key, {}).get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def exists(self, rt: ResourceType, namespace: str, name: str) -> bool:
        """Whether the object exists."""
        return (namespace if rt.namespaced else "", name) in self._bucket(rt)

    def iter(self, rt: ResourceType, namespace: str | None = None) -> Iterator[Obj]:
        """Objects of ``rt`` (in one namespace or all) in etcd key order, uncopied."""
        bucket = self._bucket(rt)
        for ns, name in sorted(bucket, key=lambda slot: f"{slot[0]}/{slot[1]}" if slot[0] else slot[1]):
            if namespace and rt.namespaced and ns != namespace:
                continue
            yield bucket[(ns, name)]

    def events_since(self, rv: int, key: Key) -> list[WatchEvent]:
        """Stored events of ``key`` newer than ``rv``; 410 Gone if history no longer reaches."""
        if rv < self._compacted_rv:
            raise ApiError(
                410,
                f"too old resource version: {rv} ({self._compacted_rv + 1})",
                reason="Expired",
            )
        return [e for e in self._events if e.rv > rv and e.key == key]

    # -- writes -------------------------------------------------------------------
    def create(self, rt: ResourceType, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Store a new object (name from metadata.name or generateName); 409 if it exists.

        ``dry_run``: every check and every field the server sets, but nothing stored.
        """
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise ApiError.invalid(
                    rt.kind, "", "metadata.name: Required value: name or generateName is required"
                )
            meta["name"] = prefix + secrets.token_hex(3)[:5]
        name = meta["name"]
        if rt.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        slot = (namespace if rt.namespaced else "", name)
        bucket = self._bucket(rt)
        if slot in bucket:
            raise ApiError.already_exists(rt.plural, name, rt.group)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _timestamp(self._now())
        meta["generation"] = 1
        meta.pop("deletionTimestamp", None)
        if dry_run:
            return copy.deepcopy(obj)
        self._bump(obj)
        bucket[slot] = obj
        self._emit(rt, "ADDED", obj)
        return copy.deepcopy(obj)

    def update(self, rt: ResourceType, namespace: str, name: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Replace an object; a stale resourceVersion answers 409 Conflict (``dry_run``: not stored)."""
        slot = (namespace if rt.namespaced else "", name)
        bucket = self._bucket(rt)
        old = bucket.get(slot)
        if old is None:
            raise ApiError.not_found(rt.plural, name, rt.group)
        meta = obj.setdefault("metadata", {})
        sent_rv = meta.get("resourceVersion")
        if sent_rv and str(sent_rv) != old["metadata"]["resourceVersion"]:
            what = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise ApiError(
                409,
                f'Operation cannot be fulfilled on {what} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                reason="Conflict",
                kind=rt.plural,
                name=name,
                group=rt.group,
            )
        old_meta = old["metadata"]
        for keep in ("uid", "creationTimestamp", "generation"):
            meta[keep] = old_meta[keep]
        meta["name"] = name
        if rt.namespaced:
            meta["namespace"] = namespace
        if obj.get("spec") != old.get("spec"):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if dry_run:
            meta["resourceVersion"] = old_meta["resourceVersion"]
            return copy.deepcopy(obj)
        self._bump(obj)
        bucket[slot] = obj
        self._emit(rt, "MODIFIED", obj)
        return copy.deepcopy(obj)

    def delete(self, rt: ResourceType, namespace: str, name: str, *, dry_run: bool = False) -> Obj:
        """Remove an object and return it as it was last stored (``dry_run``: keep it)."""
        slot = (namespace if rt.namespaced else "", name)
        bucket = self._bucket(rt)
        if slot not in bucket:
            raise ApiError.not_found(rt.plural, name, rt.group)
        if dry_run:
            return copy.deepcopy(bucket[slot])
        obj = copy.deepcopy(bucket.pop(slot))  # a list snapshot may still hold the stored one
        self._bump(obj)
        self._emit(rt, "DELETED", obj)
        return copy.deepcopy(obj)

    def delete_namespace_contents(self, namespace: str, types: list[ResourceType]) -> None:
        """Delete every namespaced object in ``namespace`` (namespace deletion cascades)."""
        for rt in types:
            if rt.namespaced:
                for obj in list(self.iter(rt, namespace)):
                    self.delete(rt, namespace, obj["metadata"]["name"])

    def drop_type(self, rt: ResourceType) -> None:
        """Forget all objects of a type (its CRD was deleted)."""
        self._objects.pop(rt.key, None)

    def drop_watches(self) -> int:
        """Make every open watch's connection drop; return how many there were."""
        for watcher in self.watchers:
            watcher.queue.put_nowait(DROP)
        return len(self.watchers)

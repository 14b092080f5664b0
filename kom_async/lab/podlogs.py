"""``pods/log``: container logs a test sets or appends, read once or followed as they grow.

Logs belong to a pod's uid, so a pod deleted and created again starts with a fresh log, as on
a real node. ``follow=true`` streams the selected backlog, then each appended line, and ends when
the client goes away, the pod is deleted or the lab stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from kom_async.lab.podparams import pick_container, query_flag, query_int
from kom_async.lab.status import ApiError
from kom_async.lab.store import DROP, ObjectStore, Watcher, WatchEvent

Obj = dict[str, Any]
Line = tuple[datetime, str]
Key = tuple[str, str]  # (pod uid, container)


def synthetic_log(pod: str, container: str, now: datetime) -> list[Line]:
    """What a container logged when no test said otherwise: 20 lines, 30 s apart, ending now."""
    return [
        (now - timedelta(seconds=30 * (19 - i)), f"{pod}/{container}: log line {i + 1}") for i in range(20)
    ]


@dataclass
class LogBook:
    """Every container's log lines in one lab cluster, and the streams following them."""

    lines: dict[Key, list[Line]] = field(default_factory=dict)
    followers: dict[Key, set[asyncio.Queue[object]]] = field(default_factory=dict)

    def set(self, key: Key, lines: Sequence[Line]) -> None:
        """Replace a container's log (followers keep streaming what is appended next)."""
        self.lines[key] = list(lines)

    def append(self, key: Key, lines: Sequence[Line], default: Callable[[], list[Line]]) -> None:
        """Add lines to a container's log (after ``default()`` if it had none) and wake followers."""
        log = self.lines.setdefault(key, default())
        log.extend(lines)
        for queue in self.followers.get(key, ()):
            for line in lines:
                queue.put_nowait(line)


def _timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f000Z ")


def _since(request: web.Request, now: datetime) -> datetime | None:
    since_seconds = query_int(request, "sinceSeconds")
    since_time = request.query.get("sinceTime")
    if since_seconds is not None and since_time:
        raise ApiError.invalid(
            "PodLogOptions", "", "at most one of `sinceTime` or `sinceSeconds` may be specified"
        )
    if since_seconds is not None:
        if since_seconds < 1:
            raise ApiError.invalid(
                "PodLogOptions", "", f"sinceSeconds: Invalid value: {since_seconds}: must be greater than 0"
            )
        return now - timedelta(seconds=since_seconds)
    if since_time:
        try:
            return datetime.fromisoformat(since_time.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(
                400, f"invalid sinceTime {since_time!r}: not RFC 3339", reason="BadRequest"
            ) from None
    return None


def _options(request: web.Request) -> tuple[int | None, int | None]:
    tail = query_int(request, "tailLines")
    if tail is not None and tail < 0:
        raise ApiError.invalid("PodLogOptions", "", f"tailLines: Invalid value: {tail}: must be >= 0")
    limit = query_int(request, "limitBytes")
    if limit is not None and limit < 1:
        raise ApiError.invalid(
            "PodLogOptions", "", f"limitBytes: Invalid value: {limit}: must be greater than 0"
        )
    return tail, limit


async def serve_log(
    request: web.Request, book: LogBook, store: ObjectStore, pod: Obj, now: datetime
) -> web.StreamResponse:
    """Answer a ``pods/log`` GET: the selected lines, then (``follow``) new ones as they come."""
    meta = pod["metadata"]
    container = str(pick_container(pod, request.query.get("container"), meta["name"]).get("name"))
    follow, stamps = query_flag(request, "follow"), query_flag(request, "timestamps")
    since = _since(request, now)
    tail, limit = _options(request)
    if query_flag(request, "previous"):
        raise ApiError(
            400,
            f'previous terminated container "{container}" in pod "{meta["name"]}" not found',
            reason="BadRequest",
        )
    if (pod.get("status") or {}).get("phase") == "Pending":
        raise ApiError(
            400,
            f'container "{container}" in pod "{meta["name"]}" is waiting to start: ContainerCreating',
            reason="BadRequest",
        )
    key = (str(meta.get("uid", "")), container)
    lines = book.lines.get(key)
    if lines is None:
        lines = synthetic_log(meta["name"], container, now)
    if since is not None:
        lines = [(t, text) for t, text in lines if t >= since]
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    budget = _Budget(limit, stamps)
    if not follow:
        return web.Response(text=budget.take(lines).decode(), content_type="text/plain")
    return await _follow(request, book, store, pod, key, budget, lines)


@dataclass
class _Budget:
    """Renders lines and enforces ``limitBytes`` across the whole response."""

    left: int | None
    stamps: bool

    def take(self, lines: Sequence[Line]) -> bytes:
        data = b"".join(((_timestamp(t) if self.stamps else "") + text + "\n").encode() for t, text in lines)
        if self.left is not None:
            data = data[: self.left]
            self.left -= len(data)
        return data

    @property
    def spent(self) -> bool:
        return self.left is not None and self.left <= 0


async def _follow(
    request: web.Request,
    book: LogBook,
    store: ObjectStore,
    pod: Obj,
    key: Key,
    budget: _Budget,
    backlog: list[Line],
) -> web.StreamResponse:
    meta = pod["metadata"]
    queue: asyncio.Queue[object] = asyncio.Queue()
    uid = meta.get("uid")
    gone = Watcher(("", "pods"), meta.get("namespace", ""), lambda o: o["metadata"].get("uid") == uid, queue)
    store.watchers.add(gone)
    book.followers.setdefault(key, set()).add(queue)
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        await response.write(budget.take(backlog))
        while not budget.spent:
            item = await queue.get()
            if item is DROP or (isinstance(item, WatchEvent) and item.type == "DELETED"):
                break
            if isinstance(item, tuple):
                await response.write(budget.take([item]))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    except ConnectionError:
        pass  # the client went away
    finally:
        store.watchers.discard(gone)
        book.followers[key].discard(queue)
        if not book.followers[key]:
            del book.followers[key]
    return response

"""A reconnecting watch: list, then stream changes, resuming after drops and re-listing on 410.

The watch is given its query's operations as functions (:class:`WatchFeed`), so it needs
nothing from the query module and the query can build watches without an import cycle.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import copy
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

import aiohttp

from kom_async.backoff import exponential_backoff
from kom_async.config.limits import TRUSTED_LIMITS, Limits
from kom_async.errors import KubernetesError, QueryError
from kom_async.kubectl._constants import LIST_PAGE_SIZE, Obj
from kom_async.kubectl.discovery import ResourceInfo
from kom_async.transport.bounded import read_line
from kom_async.transport.rest import Target, error_from_status
from kom_async.transport.retry import RETRYABLE_STATUSES

log = logging.getLogger("kom_async.kubectl")
T = TypeVar("T")

_NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
_WATCH_CYCLE = 300  # seconds the server keeps one watch stream open (timeoutSeconds)
_WATCH_GRACE = 30.0  # seconds past that without data: the connection is dead
_QUICK_EOF = 1.0  # seconds: a watch stream that ends sooner, eventless, counts as a failure
# reconnect waits: 0.05 s doubling to 2 s, jittered so the watches of a restarted server spread out
_RECONNECT_BASE = 0.05
_RECONNECT_CAP = 2.0
_JITTER = random.Random()


@dataclass(frozen=True, slots=True)
class WatchFeed(Generic[T]):
    """What a watch needs from its query, as functions bound to that query."""

    describe: str
    """The query's repr, for log lines."""
    resolve: Callable[[], Awaitable[ResourceInfo]]
    """Resolve the selected resource through discovery."""
    list_page: Callable[[ResourceInfo, int, str | None], Awaitable[Obj]]
    """One list page (``limit``, ``continue`` token) with the query's namespace and selectors."""
    open: Callable[[ResourceInfo, Mapping[str, object | None]], Awaitable[aiohttp.ClientResponse]]
    """Open the watch stream with these extra query parameters."""
    convert: Callable[[ResourceInfo, Obj], T]
    """Turn one object of the stream into what the query returns (dict or model)."""
    target: Callable[[ResourceInfo], Target]
    """What the watch is about, for error messages."""
    limits: Limits = TRUSTED_LIMITS
    """The cluster's read limits: one event (line) is at most ``max_watch_line`` bytes."""


class Watch(Generic[T]):
    """Async iterator of ``(event type, object)`` that reconnects by itself.

    Event types are ADDED, MODIFIED and DELETED (bookmarks are consumed silently). Use it
    as ``async with query.watch() as events: async for kind, obj in events: ...`` or just
    ``async for``; ``aclose()`` ends it early. Its HTTP connection is closed when the
    watch ends, when it is closed, or when it is garbage collected after a ``break``.
    """

    def __init__(
        self,
        feed: WatchFeed[T],
        *,
        resource_version: str | None,
        timeout_seconds: float | None,
        send_initial: bool,
        max_retries: int,
    ) -> None:
        self._feed = feed
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
                self._info = await self._feed.resolve()
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
                self._info = await self._feed.resolve()
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
        items, list_rv = await list_all(self._feed.list_page, info)
        convert = self._feed.convert
        events: list[tuple[str, T]] = []
        seen: dict[tuple[str, str], Obj] = {}
        for item in items:
            item_meta = item.get("metadata") or {}
            key = (item_meta.get("namespace") or "", item_meta.get("name") or "")
            seen[key] = _stub(info, item)
            old = self._known.get(key)
            if old is None:
                if self._listed or self._send_initial:
                    events.append(("ADDED", convert(info, item)))
            elif (old.get("metadata") or {}).get("resourceVersion") != item_meta.get("resourceVersion"):
                events.append(("MODIFIED", convert(info, item)))
        if self._listed:
            for key, stub in self._known.items():
                if key not in seen:
                    events.append(("DELETED", convert(info, copy.deepcopy(stub))))
        self._pending.extend(events)
        self._listed = True
        self._known = seen
        self._rv = list_rv

    async def _connect(self, info: ResourceInfo, remaining: float | None) -> None:
        # Like client-go, recycle the stream every few minutes so that a half-open
        # connection cannot stall the watch; it resumes from the last resourceVersion.
        cycle = _WATCH_CYCLE if remaining is None else min(_WATCH_CYCLE, remaining)
        self._server_timeout = max(1, math.ceil(cycle))
        params: dict[str, object | None] = {
            "watch": True,
            "resourceVersion": self._rv,
            "allowWatchBookmarks": True,
            "timeoutSeconds": self._server_timeout,
        }
        try:
            self._response = await self._feed.open(info, params)
        except KubernetesError as exc:
            if exc.status_code == 410:
                self._gone()
                return
            if exc.status_code in RETRYABLE_STATUSES:
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
            if exc.status_code not in RETRYABLE_STATUSES:
                raise
            await self._backoff(exc)
        except _NETWORK_ERRORS as exc:
            await self._backoff(exc)

    async def _backoff(self, exc: BaseException) -> None:
        self._failures += 1
        if self._failures > self._max_retries:
            log.warning("%r: giving up after %d failed reconnects: %s", self, self._max_retries, exc)
            raise exc
        delay = exponential_backoff(self._failures, base=_RECONNECT_BASE, cap=_RECONNECT_CAP, rng=_JITTER)
        log.debug("%r: reconnect %d failed (%s); retrying in %.2f s", self, self._failures, exc, delay)
        await asyncio.sleep(delay)

    def __repr__(self) -> str:
        return f"Watch({self._feed.describe}, resource_version={self._rv!r})"

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
                line = await read_line(self._response.content, self._feed.limits, f"an event of {self!r}")
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
            quote_limit = self._feed.limits.max_error_quote
            raise error_from_status(
                code or 500, json.dumps(obj), self._feed.target(info), quote_limit=quote_limit
            )
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
        return kind, self._feed.convert(info, obj)


def _stub(info: ResourceInfo, obj: Obj) -> Obj:
    """Just enough of an object to report its deletion after a re-list."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion") if k in meta}
    return {"apiVersion": info.api_version, "kind": info.kind, "metadata": kept}


async def list_all(
    list_page: Callable[[ResourceInfo, int, str | None], Awaitable[Obj]], info: ResourceInfo
) -> tuple[builtins.list[Obj], str]:
    """Every object ``list_page`` pages through, and the list's resourceVersion; starts
    over when a continue token expires mid-way (410), at most three times."""
    for _attempt in range(3):
        items: builtins.list[Obj] = []
        token: str | None = None
        list_rv: str | None = None
        try:
            while True:
                data = await list_page(info, LIST_PAGE_SIZE, token)
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

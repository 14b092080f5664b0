"""One watch stream of the lab's API server: the backlog from ``resourceVersion`` (or every
current object as ADDED), then live events until the server-side timeout, then a bookmark."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json

from aiohttp import web

from kom_async.lab.podparams import query_int
from kom_async.lab.resources import ResourceType
from kom_async.lab.selectors import parse_field_selector, parse_label_selector
from kom_async.lab.state import ClusterState
from kom_async.lab.status import ApiError
from kom_async.lab.store import DROP, Watcher, WatchEvent


async def serve_watch(
    state: ClusterState, request: web.Request, rt: ResourceType, namespace: str
) -> web.StreamResponse:
    """Stream the watch ``request`` asks for on the resource type ``rt`` (in ``namespace``,
    or in every namespace when it is empty)."""
    labels = parse_label_selector(request.query.get("labelSelector"))
    fields = parse_field_selector(request.query.get("fieldSelector"))
    watcher = Watcher(
        rt.key,
        namespace or None,
        lambda o: labels(o["metadata"].get("labels") or {}) and fields(o),
    )
    backlog = _backlog(state, rt, namespace, watcher, request.query.get("resourceVersion", ""))
    state.store.watchers.add(watcher)
    state.stats.watches_opened += 1
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        for event in backlog:
            await _send(response, event)
        if not await _live(state, request, response, watcher):
            return response  # dropped: the connection was cut
        if request.query.get("allowWatchBookmarks") in ("1", "true"):
            bookmark = {
                "kind": rt.kind,
                "apiVersion": rt.group_version,
                "metadata": {"resourceVersion": str(state.store.resource_version)},
            }
            await _send(response, WatchEvent(state.store.resource_version, rt.key, "BOOKMARK", bookmark))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    except ConnectionError:
        pass
    finally:
        state.store.watchers.discard(watcher)
    return response


def _backlog(
    state: ClusterState, rt: ResourceType, namespace: str, watcher: Watcher, rv_text: str
) -> list[WatchEvent]:
    """The events a new watch sees first: those since ``rv_text``, or every matching object."""
    if rv_text and rv_text != "0":
        try:
            rv = int(rv_text)
        except ValueError:
            raise ApiError(400, f"invalid resourceVersion {rv_text!r}", reason="BadRequest") from None
        return [e for e in state.store.events_since(rv, rt.key) if watcher.wants(e)]
    backlog = [
        WatchEvent(state.store.resource_version, rt.key, "ADDED", copy.deepcopy(o))
        for o in state.store.iter(rt, namespace or None)
        if watcher.match(o)
    ]
    # oldest first, so the last event's resourceVersion is a safe resume point
    backlog.sort(key=lambda e: int(e.obj["metadata"]["resourceVersion"]))
    return backlog


async def _live(
    state: ClusterState, request: web.Request, response: web.StreamResponse, watcher: Watcher
) -> bool:
    """Send live events until ``timeoutSeconds``; False when the lab dropped the watch."""
    timeout = query_int(request, "timeoutSeconds")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout and timeout > 0 else None
    while True:
        wait = None if deadline is None else deadline - loop.time()
        if wait is not None and wait <= 0:
            return True
        try:
            item = await asyncio.wait_for(watcher.queue.get(), wait)
        except TimeoutError:
            return True
        if item is DROP:
            state.stats.watches_dropped += 1
            if request.transport is not None:
                request.transport.abort()
            return False
        assert isinstance(item, WatchEvent)
        await _send(response, item)


async def _send(response: web.StreamResponse, event: WatchEvent) -> None:
    line = json.dumps({"type": event.type, "object": event.obj}, separators=(",", ":")) + "\n"
    await response.write(line.encode())

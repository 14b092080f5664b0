"""Limits against a hostile HTTP client, below ASGI (uvicorn has neither): a deadline for each
request's headers, and a cap on open connections that drops the longest-waiting idle one first.

Without them, slow clients that send half a request line and wait hold a socket each for as long
as they like, until the process runs out of file descriptors and nobody else gets in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kom_async.mcp.defaults import DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS


@dataclass(frozen=True)
class HttpLimits:
    """``header_timeout`` seconds to send headers; at most ``max_connections`` open at once."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS


def guarded_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with ``limits`` enforced (one class per server: it holds the queue)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    waiting: dict[GuardedH11Protocol, None] = {}  # connections waiting for headers, oldest first

    class GuardedH11Protocol(H11Protocol):
        """A connection that is dropped when its headers are late, or to make room for a new one."""

        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._watch()
            if len(self.connections) > limits.max_connections:
                # room for the newcomer: drop whoever has waited longest for headers, else the newcomer
                victim = next((c for c in waiting if c is not self), self)
                victim.drop()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def connection_lost(self, exc: Exception | None) -> None:
            self._unwatch()
            super().connection_lost(exc)

        def drop(self) -> None:
            """Close this connection (it waited too long for headers, or made room)."""
            self._unwatch()
            self.transport.close()

        def _watch(self) -> None:
            """Start the header deadline while no request is in progress; stop it during one."""
            between_requests = self.cycle is None or self.cycle.response_complete
            if not between_requests or self.transport.is_closing():
                self._unwatch()
            elif self._deadline is None:
                self._deadline = self.loop.call_later(limits.header_timeout, self.drop)
                waiting[self] = None

        def _unwatch(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            waiting.pop(self, None)

    return GuardedH11Protocol

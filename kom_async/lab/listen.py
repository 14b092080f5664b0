"""Start an aiohttp runner on a free 127.0.0.1 port (the lab never binds another address)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def listen_loopback(runner: web.AppRunner, ssl_context: ssl.SSLContext | None = None) -> int:
    """Serve ``runner`` on 127.0.0.1 at a port the OS picks; return the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        site = web.SockSite(runner, sock, ssl_context=ssl_context)
        await site.start()
    except BaseException:
        sock.close()
        raise
    return port


class InFlight:
    """The requests a lab server is serving, so that stopping it cancels them (a handler
    sleeping in a 'delay' fault) instead of aiohttp waiting for them to finish."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def track(self, handler: Handler) -> Handler:
        """``handler``, registered here while each call runs."""

        async def tracked(request: web.Request) -> web.StreamResponse:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                return await handler(request)
            finally:
                if task is not None:
                    self._tasks.discard(task)

        return tracked

    async def cancel(self) -> None:
        """Cancel every request still being served and wait until each has ended."""
        running = [t for t in self._tasks if not t.done()]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

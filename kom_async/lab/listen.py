"""Start an aiohttp runner on a free 127.0.0.1 port (the lab never binds another address)."""

from __future__ import annotations

import socket
import ssl

from aiohttp import web


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

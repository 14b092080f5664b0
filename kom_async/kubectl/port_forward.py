"""Pod port-forward: a local 127.0.0.1 listener, one WebSocket per accepted connection.

Each WebSocket speaks the port-forward framing of ``v4.channel.k8s.io``: channel 0 carries
the data of the forwarded port and channel 1 its errors; the first message on each channel
starts with the port number (2 bytes, little endian), which is not data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType

import aiohttp

from kom_async.errors import KomError
from kom_async.transport import ws as websocket

log = logging.getLogger("kom_async.kubectl")

PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
DATA, ERROR = 0, 1
_READ_CHUNK = 64 * 1024

Connect = Callable[[], Awaitable[aiohttp.ClientWebSocketResponse]]


class PortForward:
    """Forwards 127.0.0.1:``local_port`` to a pod's port while the ``async with`` block runs.

    Entering listens (``local_port=0`` picks a free port) and returns the local port.
    Every accepted connection gets its own WebSocket to the pod, so several clients can
    use the forward at once. Leaving stops listening, cancels every connection's task
    and waits for them; a connection the pod refuses is closed and logged.
    """

    def __init__(self, connect: Connect, *, remote_port: int, local_port: int, what: str) -> None:
        self._connect = connect
        self._remote_port = remote_port
        self._local_port = local_port
        self._what = what
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0
        """How many local connections were accepted."""
        self.errors: list[Exception] = []
        """Why connections failed (the pod refused the port: a ``KomError`` with the pod's message
        from the error channel; the upgrade was refused...), in order."""

    def __repr__(self) -> str:
        return f"PortForward({self._what}, 127.0.0.1:{self.local_port} -> {self._remote_port})"

    @property
    def local_port(self) -> int:
        """The local port (the chosen one once listening)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._local_port

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", self._local_port)
        log.info("%r: listening", self)
        return self.local_port

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening, then cancel and await every connection; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One local connection: asyncio runs this in its own task, which we own from here."""
        task = asyncio.current_task()
        assert task is not None
        if self._server is None:  # accepted while closing
            writer.close()
            return
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            if self._server is not None:  # not aclose(): whoever cancelled us gets the cancellation
                raise
            # aclose() cancelled and awaits us: end normally, since on Python 3.11 asyncio's own
            # done-callback of this task calls task.exception() and logs a CancelledError
            # traceback for a cancelled one ("Exception in callback ... connection_made")
            task.uncancel()
        except Exception as exc:  # one failed connection must not end the forward
            self.errors.append(exc)
            log.warning("%r: connection failed: %s", self, exc)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ws = await self._connect()
        upstream = asyncio.create_task(self._to_pod(reader, ws), name=f"kom-async:port-forward:{self._what}")
        try:
            await self._from_pod(ws, writer)
        finally:  # the pod side ended (or we were cancelled): nothing more to send
            upstream.cancel()
            await asyncio.gather(upstream, return_exceptions=True)
            await websocket.close(ws)

    async def _to_pod(self, reader: asyncio.StreamReader, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while data := await reader.read(_READ_CHUNK):
                await ws.send_bytes(bytes([DATA]) + data)
        except (OSError, aiohttp.ClientError):
            await ws.close()  # the local side broke: end the pod side too
        # local EOF: the framing cannot half-close, so keep receiving until the pod side ends

    async def _from_pod(self, ws: aiohttp.ClientWebSocketResponse, writer: asyncio.StreamWriter) -> None:
        prefixed = {DATA: True, ERROR: True}  # the first message per channel leads with the port
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.BINARY:
                if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    continue
                return  # closed
            data: bytes = msg.data
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if prefixed.get(channel):
                prefixed[channel] = False
                payload = payload[2:]
            if channel == DATA and payload:
                writer.write(payload)
                await writer.drain()
            elif channel == ERROR and payload:
                text = payload.decode("utf-8", "replace")[:2000]
                port = self._remote_port
                raise KomError(f"the pod refused the forwarded connection to port {port}: {text}")

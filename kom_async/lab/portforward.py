"""``pods/portforward`` over WebSocket (``v4.channel.k8s.io``), as the kubelet serves it.

``?ports=8080,9090`` (or repeated ``ports=``): port *i* gets data channel ``2i`` and error channel
``2i+1``; the server's first message on each is the port number as 2 little-endian bytes. Each
port is one TCP connection for the life of the socket: an echo server by default, or a loopback
server the lab was told about (``EKSLab.set_port_target``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web

from kom_async.lab import channels
from kom_async.lab.channels import V4
from kom_async.lab.status import ApiError

log = logging.getLogger("kom_async.lab.portforward")
Obj = dict[str, Any]
SUPPORTED = (V4, "channel.k8s.io")
MAX_PORTS = 127  # two channels per port, one byte per channel number
Address = tuple[str, int]


def parse_ports(request: web.Request) -> list[int]:
    """``ports`` as the API server decodes it: repeated or comma separated, each 1..65535."""
    values = request.query.getall("ports", [])
    if not values:
        raise ApiError(400, 'query parameter "port" is required', reason="BadRequest")
    ports: list[int] = []
    for value in values:
        for part in value.split(","):
            if not (part.isascii() and part.isdigit()):
                raise ApiError(400, f"unable to parse {value!r} as a port", reason="BadRequest")
            port = int(part)
            if not 1 <= port <= 65535:
                raise ApiError(400, f"port {value!r} must be between 1 and 65535", reason="BadRequest")
            ports.append(port)
    if len(ports) > MAX_PORTS:
        raise ApiError(400, f"at most {MAX_PORTS} ports can be forwarded at once", reason="BadRequest")
    return ports


async def serve_portforward(
    request: web.Request, pod: Obj, targets: Mapping[int, Address]
) -> web.StreamResponse:
    """Validate like the API server, then forward each port until the client or target ends."""
    ports = parse_ports(request)
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise ApiError(400, f"pod is not running. Current status={phase}", reason="BadRequest")
    if not channels.is_websocket_upgrade(request):
        raise ApiError(400, "Upgrade request required", reason="BadRequest")
    protocol = channels.negotiate(request, SUPPORTED)
    if protocol is None and channels.requested_protocols(request):
        return channels.protocol_refusal(request, SUPPORTED)
    ws = await channels.open_socket(request, protocol or "")
    name = str(pod["metadata"]["name"])
    uid = str(pod["metadata"].get("uid", ""))
    forwards = [
        _Forward(ws, i, port, targets.get(port), f"pod {name}, uid {uid}") for i, port in enumerate(ports)
    ]
    tasks = [asyncio.create_task(f.run(), name=f"kom-async:lab:portforward:{f.port}") for f in forwards]
    reader = asyncio.create_task(_read(ws, forwards), name="kom-async:lab:portforward-reader")
    ended = asyncio.create_task(asyncio.wait(tasks), name="kom-async:lab:portforward-ports")
    try:
        await asyncio.wait([reader, ended], return_when=asyncio.FIRST_COMPLETED)
        if not reader.done():  # every port ended on the pod's side: end the socket, as the kubelet does
            with contextlib.suppress(ConnectionError):
                await ws.close()
    finally:
        for task in (reader, ended, *tasks):
            task.cancel()
        outcomes = await asyncio.gather(reader, ended, *tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception) and not isinstance(outcome, ConnectionError):
                log.error("lab port-forward failed", exc_info=outcome)
    return ws


async def _read(ws: web.WebSocketResponse, forwards: list[_Forward]) -> None:
    """Route client frames to each port's inbox; frames for other channels are ignored."""
    async for msg in ws:
        if msg.type != WSMsgType.BINARY or len(msg.data) < 2:
            continue
        channel, data = msg.data[0], bytes(msg.data[1:])
        if channel % 2 == 0 and channel // 2 < len(forwards):
            await forwards[channel // 2].inbox.put(data)


class _Forward:
    """One forwarded port: an echo, or a TCP connection to the lab's target for that port."""

    def __init__(
        self, ws: web.WebSocketResponse, index: int, port: int, target: Address | None, who: str
    ) -> None:
        self.ws, self.port, self.target, self.who = ws, port, target, who
        self.data_ch, self.error_ch = 2 * index, 2 * index + 1
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue(16)

    async def run(self) -> None:
        prefix = self.port.to_bytes(2, "little")
        await self.ws.send_bytes(channels.frame(self.data_ch, prefix))
        await self.ws.send_bytes(channels.frame(self.error_ch, prefix))
        if self.target is None:
            while True:
                await self.ws.send_bytes(channels.frame(self.data_ch, await self.inbox.get()))
        try:
            reader, writer = await asyncio.open_connection(*self.target)
        except OSError as exc:
            host, port = self.target
            msg = (
                f"error forwarding port {self.port} to {self.who}: failed to connect to "
                f"localhost:{self.port} inside the pod: dial tcp {host}:{port}: {exc.strerror or exc}"
            )
            await self.ws.send_bytes(channels.frame(self.error_ch, msg.encode()))
            return
        try:
            await self._pump(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def upstream() -> None:
            while True:
                writer.write(await self.inbox.get())
                await writer.drain()

        up = asyncio.create_task(upstream(), name=f"kom-async:lab:portforward-up:{self.port}")
        try:
            while chunk := await reader.read(65536):
                await self.ws.send_bytes(channels.frame(self.data_ch, chunk))
        finally:
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await up

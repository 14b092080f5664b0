"""A hostile Kubernetes API server on 127.0.0.1: valid enough to be registered and discovered,
then it floods whatever a test turns on — a discovery document, a list, a pod log, a refusal's
message, an endless watch line, an exec session's stdout — with ``size`` bytes, streamed
(chunked) so that it holds nothing itself. ``sent`` counts what each flood got out."""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import ssl
from collections.abc import AsyncIterator

import trustme
from aiohttp import web
from attacker import hostile_kubeconfig

TOKEN = "hostile-static-token"
MiB = 1024 * 1024
_BLOCK = b"x" * (256 * 1024 - 1) + b"\n"  # log lines of 256 KiB

_RESOURCES = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": "pods", "namespaced": True, "kind": "Pod", "verbs": ["get", "list", "watch"]},
        {"name": "pods/log", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "pods/exec", "namespaced": True, "kind": "PodExecOptions", "verbs": ["get", "create"]},
        {"name": "configmaps", "namespaced": True, "kind": "ConfigMap", "verbs": ["get", "list"]},
    ],
}
_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "default", "resourceVersion": "1"},
    "spec": {"containers": [{"name": "c"}]},
    "status": {"phase": "Running"},
}


class HostileAPIServer:
    """``async with HostileAPIServer.running() as evil:`` then register ``evil.kubeconfig``.

    Turn floods on with ``evil.flood.add("discovery" | "list" | "log" | "error" | "watch" |
    "exec")``; each sends ``evil.size`` bytes (default 300 MiB) and counts them in ``sent``.
    """

    def __init__(self) -> None:
        self.flood: set[str] = set()
        self.size = 300 * MiB
        self.sent: collections.Counter[str] = collections.Counter()
        self.port = 0
        self._ca = trustme.CA(organization_name="hostile")

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[HostileAPIServer]:
        evil = cls()
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", evil._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        evil._ca.issue_cert("127.0.0.1").configure_cert(context)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        evil.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield evil
        finally:
            await runner.cleanup()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> str:
        ca = base64.b64encode(self._ca.cert_pem.bytes()).decode()
        return hostile_kubeconfig(self.url, {"token": TOKEN}, ca_data=ca, name="hostile")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/api":
            if "discovery" in self.flood:
                return await self._stream(request, "discovery", b'{"kind":"APIVersions","versions":["', b"v")
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return web.json_response({"kind": "APIGroupList", "groups": []})
        if path == "/api/v1":
            return web.json_response(_RESOURCES)
        if path.endswith("/exec"):
            return await self._exec(request)
        if path.endswith("/log"):
            return await self._stream(request, "log" if "log" in self.flood else "", b"", _BLOCK)
        if path.startswith("/api/v1/namespaces/default/configmaps/") and "error" in self.flood:
            return await self._stream(
                request, "error", b'{"kind":"Status","message":"', b"denied. ", status=403
            )
        if path == "/api/v1/namespaces/default/pods":
            if request.query.get("watch") and "big-event" in self.flood:
                return await self._big_event(request)
            if request.query.get("watch") and "watch" in self.flood:
                return await self._stream(request, "watch", b'{"type":"ADDED","object":{"x":"', b"y")
            if "list" in self.flood:
                return await self._stream(request, "list", b'{"kind":"PodList","items":[{"x":"', b"z")
            return web.json_response(
                {"kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": [_POD]}
            )
        if path == "/api/v1/namespaces/default/pods/p":
            return web.json_response(_POD)
        return web.json_response({"kind": "Status", "code": 404, "message": "not here"}, status=404)

    async def _stream(
        self, request: web.Request, flood: str, head: bytes, fill: bytes, *, status: int = 200
    ) -> web.StreamResponse:
        """``head`` then ``fill`` repeated to ``size`` bytes, chunked; ``flood`` "" sends one block."""
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        block = fill * (256 * 1024 // len(fill))
        total = self.size if flood else len(block)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await response.write(head)
            while self.sent[flood] < total and not _gone(request):
                await response.write(block)
                self.sent[flood] += len(block)
                await asyncio.sleep(0)  # a write into a dead socket never suspends: let it be noticed
            await response.write_eof()
        return response

    async def _big_event(self, request: web.Request) -> web.StreamResponse:
        """One valid watch event of ``size`` bytes (a big object), then the stream stays open."""
        meta = {"name": "big", "namespace": "default", "resourceVersion": "2"}
        event = {"type": "ADDED", "object": {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "x": ""}}
        head, tail = json.dumps(event).encode().split(b'"x": ""')
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await response.write(head + b'"x": "')
            block = b"b" * (256 * 1024)
            while self.sent["big-event"] < self.size and not _gone(request):
                await response.write(block)
                self.sent["big-event"] += len(block)
                await asyncio.sleep(0)
            await response.write(b'"' + tail + b"\n")
            while not _gone(request):
                await asyncio.sleep(0.05)
        return response

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        chunk = b"\x01" + b"o" * (1024 * 1024)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while "exec" in self.flood and self.sent["exec"] < self.size and not _gone(request):
                await ws.send_bytes(chunk)
                self.sent["exec"] += len(chunk) - 1
                await asyncio.sleep(0)
            if not _gone(request):
                await ws.send_bytes(b"\x01done\n")
                await ws.send_bytes(b"\x03" + json.dumps({"status": "Success"}).encode())
                await ws.close()
        return ws


def _gone(request: web.Request) -> bool:
    """The client closed the connection (a WebSocket write would not notice)."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return True
    sock = transport.get_extra_info("socket")  # TLS hides the closed socket from is_closing()
    return sock is None or sock.fileno() == -1

"""The Kubernetes channel protocol over WebSocket, as the API server speaks it for exec and port-forward.

Every binary message starts with one byte naming a channel; the rest is that channel's data.
Exec uses 0 stdin, 1 stdout, 2 stderr, 3 error (a ``metav1.Status`` JSON), 4 resize, and under
``v5.channel.k8s.io`` channel 255 carries "close this channel" (one byte: the channel).
Port-forward uses two channels per requested port (data, error).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
MAX_FRAME = 1024 * 1024
"""Largest message the lab reads; a bigger one closes the socket with 1009 (message too big)."""


def requested_protocols(request: web.Request) -> list[str]:
    """The subprotocols a client offered, in its order of preference."""
    header = ",".join(request.headers.getall("Sec-WebSocket-Protocol", []))
    return [p.strip() for p in header.split(",") if p.strip()]


def negotiate(request: web.Request, supported: tuple[str, ...]) -> str | None:
    """The client's first offered protocol the server supports (None if it offered none we do)."""
    for proto in requested_protocols(request):
        if proto in supported:
            return proto
    return None


def is_websocket_upgrade(request: web.Request) -> bool:
    """Whether the request asks to be upgraded to a WebSocket."""
    connection = request.headers.get("Connection", "").lower()
    return "upgrade" in connection and request.headers.get("Upgrade", "").lower() == "websocket"


def protocol_refusal(request: web.Request, supported: tuple[str, ...]) -> web.Response:
    """What the API server's WebSocket handshake answers when no offered subprotocol fits (403)."""
    offered = " ".join(requested_protocols(request))
    text = f"requested protocol(s) are not supported: [{offered}]; supports [{' '.join(supported)}]"
    return web.Response(status=403, text=text, content_type="text/plain")


async def open_socket(request: web.Request, protocol: str) -> web.WebSocketResponse:
    """Complete the upgrade with ``protocol``; messages over :data:`MAX_FRAME` end the socket."""
    ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=MAX_FRAME, autoping=True)
    await ws.prepare(request)
    return ws


def frame(channel: int, data: bytes) -> bytes:
    """One binary message for ``channel``."""
    return bytes((channel,)) + data


def exit_status(code: int, argv: list[str]) -> dict[str, Any]:
    """The ``Status`` the kubelet writes on the error channel when a command has ended."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"[{' '.join(argv)}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error_status(message: str) -> dict[str, Any]:
    """The ``Status`` for a command that could not be started at all (500 InternalError)."""
    text = f"Internal error occurred: {message}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": text,
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def status_bytes(status: dict[str, Any]) -> bytes:
    """A status as the bytes sent on the error channel."""
    return json.dumps(status, separators=(",", ":")).encode()

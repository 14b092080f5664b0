"""A bearer-key gate in front of the streamable HTTP app: every HTTP request needs the key."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY = json.dumps(
    {"error": "unauthorized", "error_description": "send 'Authorization: Bearer <key>' (see --auth-key)"}
).encode()


class BearerKeyMiddleware:
    """Answer 401 to any HTTP request whose ``Authorization: Bearer`` key is not ``key``.

    The comparison runs in constant time; lifespan and other non-HTTP scopes pass through.
    """

    def __init__(self, app: ASGIApp, key: str) -> None:
        if not key:
            raise ValueError("the auth key must not be empty")
        self.app = app
        self._key = key.encode()

    def _allowed(self, scope: Scope) -> bool:
        """True when the request's Authorization header is ``Bearer <key>``."""
        header = b""
        for name, value in scope.get("headers") or ():
            if name.lower() == b"authorization":
                header = bytes(value)
                break
        scheme, _, presented = header.partition(b" ")
        # compare even when the scheme is wrong, so timing says nothing about the key
        matches = hmac.compare_digest(presented.strip(), self._key)
        return scheme.lower() == b"bearer" and matches

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request if it carries the key, else answer 401 without reading it."""
        if scope.get("type") != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(_BODY)).encode()),
                    (b"www-authenticate", b'Bearer realm="kom-async-mcp"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _BODY})

"""Raw Kubernetes REST calls through a kubernetes_asyncio ``ApiClient``, with typed errors.

Every request goes through ``api_client.call_api`` so the client's auth (the EKS token
hook, 401 refresh and retry) applies. Bodies are read here as JSON or text, and a
non-2xx answer becomes a :class:`~kom_async.errors.KubernetesError` subclass carrying the
server's ``Status`` message and what the request was about.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from kom_async.config.limits import ERROR_BODY_READ, TRUSTED_LIMITS, Limits
from kom_async.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Invalid,
    KubernetesError,
    NotFound,
    Unauthorized,
)
from kom_async.transport.apiclient import limits_of
from kom_async.transport.bounded import quote, read_body, read_error_body
from kom_async.transport.restlog import redact_text

QueryParams = Sequence[tuple[str, str]]


class RequestParts(TypedDict, total=False):
    """What a request may carry besides method, path and target: query parameters, a body, and
    its ``content_type`` and ``accept`` media types (both ``application/json`` when omitted)."""

    query: QueryParams
    body: Any
    content_type: str
    accept: str


_BY_CODE: dict[int, type[KubernetesError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Invalid,
}


@dataclass(frozen=True, slots=True)
class Target:
    """What a request is about, for error messages: kind, namespace and name."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None


def error_from_status(
    code: int,
    body: bytes | str | None,
    target: Target,
    *,
    quote_limit: int = TRUSTED_LIMITS.max_error_quote,
    total: int | None = None,
) -> KubernetesError:
    """Build the typed error for an HTTP ``code`` whose body may be a Kubernetes ``Status``.

    The server's message is quoted up to ``quote_limit`` characters, then ``…(N bytes more)``;
    ``total`` is the body's declared size when only its start was read."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    status: dict[str, Any] = {}
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("kind") == "Status":
        status = parsed
    # a proxy or a broken server may echo our request headers: never quote a credential
    size = len(body.encode() if isinstance(body, str) else body or b"")
    unread = max(0, total - size) if total is not None else 0
    cut = total is None and size >= ERROR_BODY_READ  # only the start was read, its end unknown
    message = str(status.get("message") or text.strip() or f"HTTP {code}")
    message = redact_text(quote(message, quote_limit, unread=unread, cut=cut))
    reason = status.get("reason") or None
    cls = _BY_CODE.get(code, KubernetesError)
    if cls is Conflict and reason == "AlreadyExists":
        cls = AlreadyExists
    return cls(
        message,
        status_code=code,
        reason=reason,
        kind=target.kind,
        namespace=target.namespace,
        name=target.name,
        status=status,
    )


class RestClient:
    """JSON-in, JSON-out calls on one ``ApiClient``; streaming for watch and logs.

    ``timeout`` (seconds, None for none) bounds each ``json()``/``text()`` call; streams
    opened with ``open()`` get their own. What the server sends is read within ``limits``
    (the client's own, for a kom-async client).
    """

    def __init__(self, api_client: ApiClient, *, timeout: float | None = None) -> None:
        self.api_client = api_client
        self.timeout = timeout
        self.limits: Limits = limits_of(api_client)

    async def open(
        self,
        method: str,
        path: str,
        *,
        target: Target,
        timeout: float | aiohttp.ClientTimeout | None = None,
        **parts: Unpack[RequestParts],
    ) -> aiohttp.ClientResponse:
        """Send a request and return the open 2xx response; the caller must release it."""
        headers = {
            "Accept": parts.get("accept", "application/json"),
            "Content-Type": parts.get("content_type", "application/json"),
        }
        quote_limit = self.limits.max_error_quote
        try:
            response: aiohttp.ClientResponse = await self.api_client.call_api(
                path,
                method,
                query_params=list(parts.get("query", ())),
                header_params=headers,
                body=parts.get("body"),
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=timeout,
            )
        except ApiException as exc:  # an auth layer may raise instead of returning
            length = str(exc.headers.get("Content-Length", "")) if exc.headers else ""
            total = int(length) if length.isdigit() else None
            raise error_from_status(
                exc.status or 0, exc.body, target, quote_limit=quote_limit, total=total
            ) from None
        if not 200 <= response.status <= 299:
            body, total = await read_error_body(response)
            raise error_from_status(response.status, body, target, quote_limit=quote_limit, total=total)
        return response

    async def json(self, method: str, path: str, *, target: Target, **parts: Unpack[RequestParts]) -> Any:
        """Send a request and return its decoded JSON body (``None`` when empty)."""
        response = await self.open(method, path, target=target, timeout=self.timeout, **parts)
        hint = "list in pages (limit=) or narrow the request with a namespace or selector"
        data = await read_body(response, self.limits, f"{method} {path}", hint=hint)
        return json.loads(data) if data else None

    async def text(self, path: str, *, target: Target, query: QueryParams = ()) -> str:
        """GET a text body (pod logs), decoded with the response's charset or UTF-8; at most
        ``limits.max_log`` bytes."""
        response = await self.open(
            "GET", path, target=target, query=query, accept="*/*", timeout=self.timeout
        )
        hint = "ask for less with tail_lines= or since_seconds=, or read it with LogStream.tail()"
        data = await read_body(response, self.limits, f"the log at {path}", limit="max_log", hint=hint)
        return data.decode(response.charset or "utf-8", "replace")


def encode_query(params: Mapping[str, object | None]) -> list[tuple[str, str]]:
    """Drop ``None`` values and render booleans the way the API server spells them."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        else:
            out.append((key, str(value)))
    return out

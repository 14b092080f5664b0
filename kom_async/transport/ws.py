"""WebSocket upgrades to the API server (pod exec, port-forward) with the client's own auth.

The connection goes through the ``ApiClient``'s session (a kom-async client's view of its
registry's shared pool), so it uses the cluster's own TLS context, server name and proxy.
A kom-async client runs the same auth flow as every other request
(:class:`~kom_async.transport.authflow.TokenAuth`: token, one refresh and retry on a 401, the
EKS diagnosis on a second); a plain kubernetes_asyncio client contributes its
``api_key``/refresh hook the way its own requests do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from kubernetes_asyncio.client import ApiClient

from kom_async.errors import KomError, Unauthorized
from kom_async.transport.apiclient import KomApiClient, limits_of
from kom_async.transport.authflow import Rejected
from kom_async.transport.failures import mapped_failures
from kom_async.transport.pool import ClusterSession
from kom_async.transport.rest import Target, error_from_status

log = logging.getLogger("kom_async.http")

MAX_MESSAGE = 4 * 1024 * 1024
"""Largest single WebSocket message accepted from the server (bytes)."""

CLOSE_GRACE = 2.0
"""Seconds a closing WebSocket waits for the server's close reply before dropping the connection."""


def ws_url(host: str, path: str, query: Sequence[tuple[str, str]]) -> str:
    """``https://h/p`` + path + query, as the ``wss://`` (or ``ws://``) URL of the upgrade."""
    parts = urlsplit(host.rstrip("/") + path)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(list(query)), ""))


async def connect(
    api_client: ApiClient,
    path: str,
    *,
    query: Sequence[tuple[str, str]],
    protocols: Sequence[str],
    target: Target,
    timeout: float | None = None,
) -> aiohttp.ClientWebSocketResponse:
    """Open an authenticated WebSocket to ``path``; the caller closes it.

    ``protocols`` are offered in order of preference; the server picks one
    (``ws.protocol``). A refused upgrade raises the typed error of its status code (a kom-async
    client first runs its auth flow: one refresh and retry on a 401, the EKS diagnosis on a
    second); an unreachable server raises :class:`ClusterUnreachable`. ``timeout`` bounds
    the handshake (the request timeout of the ``Kubectl``), not the connection.
    """
    url = ws_url(api_client.configuration.host or "", path, query)
    headers: dict[str, str] = dict(api_client.default_headers)
    await api_client.update_params_for_auth(headers, [], ["BearerToken"])  # plain ApiClients
    auth = None
    if isinstance(api_client, KomApiClient):
        if api_client.basic_authorization:
            headers["Authorization"] = api_client.basic_authorization
        auth = api_client.auth
    quote_limit = limits_of(api_client).max_error_quote

    async def attempt() -> aiohttp.ClientWebSocketResponse:
        try:
            return await _open(api_client, url, headers, protocols, target, timeout, quote_limit)
        except Unauthorized as exc:
            if auth is None:
                raise
            log.info("%s %s answered 401 to the upgrade", target.kind, target.name)
            raise Rejected(exc) from None

    if auth is None:
        return await attempt()
    return await auth.run(headers, attempt)


async def _open(
    api_client: ApiClient,
    url: str,
    headers: dict[str, str],
    protocols: Sequence[str],
    target: Target,
    timeout: float | None,
    quote_limit: int,
) -> aiohttp.ClientWebSocketResponse:
    rest = api_client.rest_client
    session: aiohttp.ClientSession | ClusterSession = rest.pool_manager
    if session.closed:
        raise KomError("the API client is closed (the cluster was unregistered or closed)")
    try:
        with mapped_failures("this client", _where(url), timeouts=True):
            async with asyncio.timeout(timeout):
                ws: aiohttp.ClientWebSocketResponse = await session.ws_connect(
                    url,
                    protocols=tuple(protocols),
                    headers=headers,
                    proxy=rest.proxy or None,
                    proxy_headers=rest.proxy_headers or None,
                    server_hostname=rest.server_hostname or None,
                    max_msg_size=MAX_MESSAGE,
                    autoping=True,
                )
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status == 101:  # upgraded, but to a protocol we did not offer (or none)
            raise KomError(
                f"the API server accepted the upgrade without one of the protocols "
                f"{', '.join(protocols)}; it is too old or not a Kubernetes API server"
            ) from None
        refusal = f"the API server refused the WebSocket upgrade (HTTP {exc.status})"
        raise error_from_status(exc.status, refusal, target, quote_limit=quote_limit) from None
    if ws.protocol not in protocols:
        await ws.close()
        raise KomError(
            f"the API server chose the WebSocket protocol {ws.protocol!r}, not one of {', '.join(protocols)}"
        )
    return ws


async def close(ws: aiohttp.ClientWebSocketResponse, *, grace: float = CLOSE_GRACE) -> None:
    """Close ``ws``, waiting at most ``grace`` seconds for the server's close reply, then drop
    the connection: aiohttp's own ``close()`` reads until that reply, so a server that keeps
    sending would hold it (and this process's bandwidth) forever. ``grace=0`` aborts."""
    try:
        async with asyncio.timeout(grace):
            await ws.close()
    except TimeoutError:
        log.debug("the server did not answer the WebSocket close within %.1f s; connection dropped", grace)


def _where(url: str) -> str:
    """host:port of ``url``, never its userinfo."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

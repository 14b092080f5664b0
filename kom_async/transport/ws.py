"""WebSocket upgrades to the API server (pod exec, port-forward) with the client's own auth.

The connection goes through the ``ApiClient``'s own aiohttp session, so it shares its TLS
context, server name and proxy. A kom-async client attaches its provider's token and, on a
401 to the upgrade, refreshes once (single-flight, shared with every other 401) and retries
once, exactly as for any other request; a plain kubernetes_asyncio client contributes its
``api_key``/refresh hook the way its own requests do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp

from kom_async.errors import ClusterUnreachable, KomError, KubernetesError
from kom_async.transport.rest import Target, error_from_status

log = logging.getLogger("kom_async.http")

MAX_MESSAGE = 4 * 1024 * 1024
"""Largest single WebSocket message accepted from the server (bytes)."""


def ws_url(host: str, path: str, query: Sequence[tuple[str, str]]) -> str:
    """``https://h/p`` + path + query, as the ``wss://`` (or ``ws://``) URL of the upgrade."""
    parts = urlsplit(host.rstrip("/") + path)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(list(query)), ""))


async def connect(
    api_client: Any,
    path: str,
    *,
    query: Sequence[tuple[str, str]],
    protocols: Sequence[str],
    target: Target,
    timeout: float | None = None,
) -> aiohttp.ClientWebSocketResponse:
    """Open an authenticated WebSocket to ``path``; the caller closes it.

    ``protocols`` are offered in order of preference; the server picks one
    (``ws.protocol``). A refused upgrade raises the typed error of its status code;
    an unreachable server raises :class:`ClusterUnreachable`. ``timeout`` bounds the
    handshake (the request timeout of the ``Kubectl``), not the connection.
    """
    url = ws_url(api_client.configuration.host, path, query)
    headers: dict[str, str] = dict(api_client.default_headers)
    await api_client.update_params_for_auth(headers, [], ["BearerToken"])  # plain ApiClients
    basic = getattr(api_client, "basic_authorization", None)
    if basic:
        headers["Authorization"] = basic
    auth = getattr(api_client, "auth", None)
    if auth is None or not hasattr(auth, "recover"):
        return await _open(api_client, url, headers, protocols, target, timeout)
    token = await auth.apply(headers)
    try:
        return await _open(api_client, url, headers, protocols, target, timeout)
    except KubernetesError as exc:
        if exc.status_code != 401:
            raise
    # 401 on the upgrade: refresh once (shared with every concurrent 401) and retry once
    log.info("%s %s answered 401 to the upgrade; refreshing the token", target.kind, target.name)
    await auth.recover(headers, token)
    try:
        ws = await _open(api_client, url, headers, protocols, target, timeout)
    except KubernetesError as exc:
        if exc.status_code == 401 and auth.is_eks:
            raise auth.rejected_twice() from None
        raise
    auth.provider.note_unauthorized_recovery()
    return ws


async def _open(
    api_client: Any,
    url: str,
    headers: dict[str, str],
    protocols: Sequence[str],
    target: Target,
    timeout: float | None,
) -> aiohttp.ClientWebSocketResponse:
    rest = api_client.rest_client
    session: aiohttp.ClientSession = rest.pool_manager
    if session.closed:
        raise KomError("the API client is closed (the cluster was unregistered or closed)")
    try:
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
        raise error_from_status(exc.status, refusal, target) from None
    except aiohttp.ClientConnectorCertificateError as exc:
        raise ClusterUnreachable(
            f"TLS verification of the API server failed ({exc.certificate_error}); check the "
            "kubeconfig's certificate-authority-data and tls-server-name"
        ) from None
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
        raise ClusterUnreachable(
            f"cannot open a WebSocket to the API server at {_where(url)}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if ws.protocol not in protocols:
        await ws.close()
        raise KomError(
            f"the API server chose the WebSocket protocol {ws.protocol!r}, not one of "
            f"{', '.join(protocols)}"
        )
    return ws


def _where(url: str) -> str:
    """host:port of ``url``, never its userinfo."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

"""One connection pool for every cluster of a registry, instead of a session per cluster.

A registry of 10,000 clusters cannot afford an aiohttp session, connector and SSL context
per cluster (~27 KiB each while idle), nor keep-alive connections to every cluster a fan-out
touched. ``HTTPPool`` holds one session whose connector caps the connections it keeps (idle
ones expire and are capped too), the SSL contexts (few, made again from a cluster's
``TLSSettings`` when evicted) and the proxy environment (read once). Each cluster talks through
a ``ClusterSession``, which applies its own TLS context, proxy, TLS server name and redirect
rule to every request: aiohttp keys pooled connections by all of these, so a connection made
for one cluster is only reused by a request that would have verified the same server the same
way.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ssl
import urllib.request
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.client_reqrep import ConnectionKey

from kom_async.auth.turns import LoopTurns
from kom_async.config.tls import TLSSettings, build_context
from kom_async.config.urls import redact_url
from kom_async.errors import InvalidArgument, KomError, KubeconfigRefused

_CLOSE_WAIT = 2.0  # seconds a closing cluster waits for its idle connections' TLS close
_READ_BUFSIZE = 2**21  # watch events can be large (etcd allows ~1.5 MiB objects)

#: whether the request being sent may follow a redirect (set per request by its cluster)
_FOLLOW_REDIRECTS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "kom_follow_redirects", default=False
)


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """How many connections a registry keeps. ``max_connections``: in use and idle together
    (a request waits for a free one; an open watch holds its own, so leave it ``None`` if you
    hold more streams than that); ``max_idle``: keep-alive connections kept for reuse, oldest
    closed first; ``idle_expiry``: seconds an unused connection is kept; ``max_contexts``: SSL
    contexts kept (each ~22 KiB; one is made again from the cluster's settings when needed)."""

    max_connections: int | None = None
    max_idle: int = 32
    idle_expiry: float = 15.0
    max_contexts: int = 128

    def __post_init__(self) -> None:
        if self.max_connections is not None and self.max_connections < 1:
            raise InvalidArgument("PoolLimits(max_connections=) must be at least 1, or None for no cap")
        if self.max_idle < 0 or self.max_contexts < 1 or not self.idle_expiry > 0:
            raise InvalidArgument(
                "PoolLimits needs max_idle >= 0, max_contexts >= 1 and idle_expiry > 0 seconds"
            )


class _CappedConnector(aiohttp.TCPConnector):
    """aiohttp counts only connections in use against ``limit``: idle keep-alive ones (one per
    cluster and TLS context after a fan-out) would pile up until they expire. Here idle ones
    are capped at ``max_idle`` and, with a ``limit``, in use + idle <= ``limit``: the oldest
    idle connections are closed first."""

    def __init__(self, *, max_idle: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_idle = max_idle

    def _release(self, key: ConnectionKey, protocol: Any, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        self._trim()

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        self._trim()  # the new connection is already counted as acquired
        return await super()._create_connection(req, traces, timeout)

    def _trim(self) -> None:
        conns = self._conns
        idle = sum(map(len, conns.values()))  # keys with idle connections: at most max_idle
        room = self._max_idle
        if self._limit:
            room = min(room, self._limit - len(self._acquired))
        while conns and idle > max(room, 0):
            key = next(iter(conns))
            queue = conns[key]
            if queue:
                protocol, _ = queue.popleft()
                protocol.close()
                idle -= 1
            if not queue:
                del conns[key]

    def drop_idle(self, host: str, port: int | None, contexts: set[int]) -> list[asyncio.Future[None]]:
        """Close the idle connections to ``host:port`` made with one of ``contexts`` (ids);
        what to await for them to be closed."""
        closing = []
        for key in [k for k in self._conns if k.host == host and k.port == port and id(k.ssl) in contexts]:
            for protocol, _ in self._conns.pop(key):
                protocol.close()
                if protocol.closed is not None:
                    closing.append(protocol.closed)
        return closing

    def counts(self) -> tuple[int, int]:
        """(connections in use, idle connections kept)."""
        return len(self._acquired), sum(map(len, self._conns.values()))


async def _refuse_redirect(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestRedirectParams
) -> None:
    """Stop a redirect before it is followed unless the request's cluster follows them: a
    server an untrusted kubeconfig names could otherwise send this host anywhere (plain http,
    a metadata address, an unlisted server)."""
    if _FOLLOW_REDIRECTS.get():
        return
    location = params.response.headers.get("Location", "")
    status = params.response.status
    params.response.close()
    raise KubeconfigRefused(
        f"the API server at {redact_url(str(params.url.origin()))} answered {status} with a redirect to "
        f"{redact_url(location)[:200]!r}; redirects are not followed for an untrusted kubeconfig "
        "(its server could send this host anywhere): give the kubeconfig the final server URL"
    )


class HTTPPool:
    """The connections, SSL contexts and proxy environment of one registry; ``aclose()`` ends them."""

    def __init__(self, limits: PoolLimits | None = None, *, turns: LoopTurns | None = None) -> None:
        self.limits = limits or PoolLimits()
        self._turns = turns  # making a context is CPU-heavy: one of the loop's turns
        self._session: aiohttp.ClientSession | None = None
        self._contexts: OrderedDict[TLSSettings, ssl.SSLContext] = OrderedDict()
        #: the settings each live context was made from (evicted ones too, while connections hold them)
        self._made_from: weakref.WeakKeyDictionary[ssl.SSLContext, TLSSettings] = weakref.WeakKeyDictionary()
        #: open cluster sessions per (TLS settings, host, port): their idle connections go with the last
        self._users: dict[tuple[TLSSettings, str, int | None], int] = {}
        self._closed = False
        # the proxy environment, read once: urllib scans all of os.environ on every lookup
        self._proxies = urllib.request.getproxies()

    @property
    def closed(self) -> bool:
        return self._closed

    def session(self) -> aiohttp.ClientSession:
        """The shared session, made on first use (it needs the running loop)."""
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        if self._session is None:
            limits = self.limits
            connector = _CappedConnector(
                limit=limits.max_connections or 0,
                max_idle=limits.max_idle,
                keepalive_timeout=limits.idle_expiry,
            )
            trace = aiohttp.TraceConfig()
            trace.on_request_redirect.append(_refuse_redirect)
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=False, read_bufsize=_READ_BUFSIZE, trace_configs=[trace]
            )
        return self._session

    def connections(self) -> tuple[int, int]:
        """(connections in use, idle connections kept) right now."""
        if self._session is None or self._session.closed:
            return 0, 0
        connector = self._session.connector
        assert isinstance(connector, _CappedConnector)
        return connector.counts()

    def context(self, settings: TLSSettings) -> ssl.SSLContext:
        """The SSL context for ``settings``: a kept one, else a new one (the least recently
        used is then dropped beyond ``max_contexts``; connections using it keep it alive)."""
        ctx = self._contexts.get(settings)
        if ctx is not None:
            self._contexts.move_to_end(settings)
            return ctx
        ctx = build_context(settings)
        self._contexts[settings] = ctx
        self._made_from[ctx] = settings
        if len(self._contexts) > self.limits.max_contexts:
            self._contexts.popitem(last=False)
        return ctx

    async def context_in_turn(self, settings: TLSSettings) -> ssl.SSLContext:
        """``context(settings)``, waiting for a turn of the loop first when it must be made."""
        if settings not in self._contexts and self._turns is not None:
            await self._turns.turn()
        return self.context(settings)

    def env_proxy(self, url: str) -> str | None:
        """The proxy the environment sets for ``url`` (``*_PROXY``, minus ``NO_PROXY``), if any,
        as client-go reads them."""
        parts = urlsplit(url)
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # not in the stubs
        if not parts.hostname or bypass(parts.hostname, self._proxies):
            return None
        return self._proxies.get(parts.scheme)

    def attach(self, settings: TLSSettings, url: str) -> tuple[TLSSettings, str, int | None]:
        """Count a cluster session that talks to ``url`` with ``settings``; ``detach`` undoes it."""
        parts = urlsplit(url)
        origin = (settings, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        self._users[origin] = self._users.get(origin, 0) + 1
        return origin

    async def detach(self, origin: tuple[TLSSettings, str, int | None]) -> None:
        """The session counted as ``origin`` is closed: with no other session like it left, the
        idle connections made for it are closed now rather than at their expiry."""
        left = self._users.pop(origin, 1) - 1  # no await before: counted in one step
        if left > 0:
            self._users[origin] = left
            return
        session = self._session
        if session is None or session.closed or not isinstance(session.connector, _CappedConnector):
            return
        settings, host, port = origin
        made = {id(ctx) for ctx, s in list(self._made_from.items()) if s == settings}
        closing = session.connector.drop_idle(host, port, made)
        if closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_WAIT):  # a TLS close the server never answers
                    await asyncio.gather(*closing, return_exceptions=True)

    async def aclose(self) -> None:
        """Close every pooled connection; the clusters' sessions are closed with it."""
        self._closed = True
        self._contexts.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class ClusterSession:
    """One cluster's view of the pool, as kubernetes_asyncio's REST client uses a session:
    every request carries the cluster's SSL context, and its redirect rule applies. Closing it
    ends this cluster's requests and WebSockets in flight, as closing a session of its own did."""

    __slots__ = ("_calls", "_closed", "_origin", "_pool", "_sockets", "follow_redirects", "tls")

    def __init__(self, pool: HTTPPool, tls: TLSSettings, url: str, *, follow_redirects: bool) -> None:
        self._pool = pool
        self.tls = tls
        self.follow_redirects = follow_redirects
        self._closed = False
        self._origin = pool.attach(tls, url)
        # made with the first request / WebSocket: an idle cluster holds neither
        self._calls: set[asyncio.Future[Any]] | None = None
        self._sockets: weakref.WeakSet[aiohttp.ClientWebSocketResponse] | None = None

    @property
    def closed(self) -> bool:
        return self._closed or self._pool.closed

    def ssl_context(self) -> ssl.SSLContext:
        """The context this cluster's requests verify its server with."""
        return self._pool.context(self.tls)

    async def request(self, method: str, url: str, **kwargs: Any) -> aiohttp.ClientResponse:
        async def send() -> aiohttp.ClientResponse:
            ctx = await self._pool.context_in_turn(self.tls)
            return await self._pool.session().request(method, url, ssl=ctx, **kwargs)

        response: aiohttp.ClientResponse = await self._in_flight(send)
        return response

    async def ws_connect(self, url: str, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        async def connect() -> aiohttp.ClientWebSocketResponse:
            ctx = await self._pool.context_in_turn(self.tls)
            session = self._pool.session()
            ws: aiohttp.ClientWebSocketResponse = await session.ws_connect(url, ssl=ctx, **kwargs)
            return ws

        ws: aiohttp.ClientWebSocketResponse = await self._in_flight(connect)
        if self._sockets is None:
            self._sockets = weakref.WeakSet()
        self._sockets.add(ws)
        return ws

    async def _in_flight(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """``call()`` under this cluster's redirect rule, as a task ``close()`` can end."""
        if self.closed:
            raise RuntimeError("the session is closed")
        token = _FOLLOW_REDIRECTS.set(self.follow_redirects)
        try:
            task = asyncio.ensure_future(call())  # copies the context: the rule goes with it
        finally:
            _FOLLOW_REDIRECTS.reset(token)
        if self._calls is None:
            self._calls = set()
        self._calls.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if self._closed and task.cancelled() and me is not None and not me.cancelling():
                raise KomError(
                    "the API client of this cluster is closed (the cluster was unregistered or closed)"
                ) from None
            raise
        finally:
            calls = self._calls
            if calls is not None:
                calls.discard(task)
                if not calls:
                    self._calls = None  # an idle cluster holds no set

    async def close(self) -> None:
        """This cluster sends no more requests: those in flight and its WebSockets end now; its
        idle connections are closed unless another open cluster talks to the same server with
        the same TLS settings."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._calls or ()):
            task.cancel()
        for ws in list(self._sockets or ()):
            ws._response.close()  # drop the connection: the reader sees it end
        self._calls = self._sockets = None
        await self._pool.detach(self._origin)

"""The one place where tokens meet kubernetes_asyncio.

``KomApiClient`` is a kubernetes_asyncio ``ApiClient`` whose every request passes through the
one auth flow (:mod:`kom_async.transport.authflow`: the token, one refresh and retry on a 401,
the EKS diagnosis), the one map of aiohttp failures (:mod:`kom_async.transport.failures`) and
bounded reads (:mod:`kom_async.transport.bounded`: a preloaded body stops at the cluster's
``Limits``). Generated APIs, the dynamic client, watches and streaming
(``_preload_content=False``) all go through ``ApiClient.request``, so they are all covered.
Idempotent reads are also retried a bounded number of times on overload, transient 5xx and
broken connections (see :mod:`kom_async.transport.retry`).
"""

from __future__ import annotations

import base64
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient, Configuration, rest
from kubernetes_asyncio.client.exceptions import ApiException

from kom_async.config.limits import TRUSTED_LIMITS, Limits
from kom_async.config.tls import TLSSettings
from kom_async.errors import KomError
from kom_async.transport import restlog
from kom_async.transport.authflow import Rejected, TokenAuth
from kom_async.transport.bounded import read_body, read_error_body
from kom_async.transport.failures import mapped_failures
from kom_async.transport.pool import ClusterSession, HTTPPool
from kom_async.transport.retry import DEFAULT_RETRY_POLICY, RetryPolicy

log = logging.getLogger("kom_async.http")
_REST_LOG = logging.getLogger("kubernetes_asyncio.client.rest")
restlog.install()  # kubernetes_asyncio logs whole response bodies (Secrets too) at DEBUG


class _RESTClient(rest.RESTClientObject):
    """kubernetes_asyncio's REST client over the registry's shared pool: no session of its own."""

    def __init__(self, configuration: Configuration, session: ClusterSession, proxy: str | None) -> None:
        # the stubs say str; kubernetes_asyncio itself stores None for "not set"
        self.server_hostname = configuration.tls_server_name  # type: ignore[assignment]
        self.proxy = proxy  # type: ignore[assignment]
        self.proxy_headers = configuration.proxy_headers  # type: ignore[assignment]
        self.pool_manager = session  # type: ignore[assignment]


class KomApiClient(ApiClient):
    """An ``ApiClient`` with kom-async's TLS context, token auth flow and read limits."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        pool: HTTPPool,
        tls: TLSSettings,
        auth: TokenAuth | None = None,
        basic_auth: tuple[str, str] | None = None,
        retry_policy: RetryPolicy | None = DEFAULT_RETRY_POLICY,
        follow_redirects: bool = True,
        limits: Limits = TRUSTED_LIMITS,
    ) -> None:
        # ApiClient.__init__ would build its own REST client (and session) from files on
        # disk; set up the same attributes around ours instead.
        self.configuration = configuration
        self.pool_threads = 1
        #: this cluster's view of the registry's connection pool (its TLS context per request)
        self.session = ClusterSession(pool, tls, configuration.host or "", follow_redirects=follow_redirects)
        # the kubeconfig's proxy-url, else HTTPS_PROXY/NO_PROXY as client-go reads them
        # (the environment read once per registry; aiohttp's trust_env would on every request)
        proxy = configuration.proxy or pool.env_proxy(configuration.host or "")
        self.rest_client = _RESTClient(configuration, self.session, proxy)
        self.default_headers: dict[str, str] = {}
        self.cookie = None  # type: ignore[assignment]
        self.user_agent = "kom-async/0.1 (kubernetes_asyncio)"
        self.client_side_validation = configuration.client_side_validation
        self.auth = auth
        #: how much this cluster's server may make us hold (bodies, logs, watch lines, exec output)
        self.limits = limits
        #: open streams (watch, logs), made with the first one (a WeakSet is ~1 KiB per client)
        self._streams: weakref.WeakSet[aiohttp.ClientResponse] | None = None
        #: bounded retries of idempotent reads; ``None`` turns them off
        self.retry_policy = retry_policy
        if basic_auth is not None:
            raw = f"{basic_auth[0]}:{basic_auth[1]}".encode()
            self._basic: str | None = "Basic " + base64.b64encode(raw).decode()
        else:
            self._basic = None

    def __repr__(self) -> str:
        return f"KomApiClient(host={self.configuration.host!r})"

    @property
    def last_response(self) -> None:
        """Not kept: kubernetes_asyncio would hold every cluster's last answer (its headers,
        the request's bearer token, the connection's buffers) until the next request."""
        return None

    @last_response.setter
    def last_response(self, response: object) -> None:
        pass

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def request(
        self,
        method: str,
        url: str,
        query_params: Any = None,
        headers: dict[str, str] | None = None,
        post_params: Any = None,
        body: Any = None,
        _preload_content: bool = True,
        _request_timeout: Any = None,
    ) -> Any:
        if self.closed:
            raise self._closed_error()
        headers = dict(headers or {})
        if self._basic is not None:
            headers["Authorization"] = self._basic

        async def send() -> Any:
            response = await ApiClient.request(
                self,
                method,
                url,
                query_params=query_params,
                headers=headers,
                post_params=post_params,
                body=body,
                _preload_content=False,  # read here, within the limits, never by the library
                _request_timeout=_request_timeout,
            )
            policy = self.retry_policy
            if (
                not _preload_content
                or response.status == 401
                or (policy and policy.retry_status(response.status))
            ):
                return response  # for the auth flow, the retries or the caller to read
            return await self._preloaded(response)

        async def attempt() -> Any:
            response = await self._with_retries(method, url, send)
            if isinstance(response, aiohttp.ClientResponse) and response.status == 401 and self.auth:
                raise Rejected(response)
            return response

        try:
            with mapped_failures(self._who(), self.configuration.host or ""):
                if self.auth is None:
                    response = await attempt()
                else:
                    response = await self.auth.run(headers, attempt)
                if _preload_content and isinstance(response, aiohttp.ClientResponse):
                    response = await self._preloaded(response)  # a 401 or 5xx: its ApiException
        except Exception as exc:
            # closing the client breaks requests in flight with any error: say what happened
            if self.closed and not isinstance(exc, KomError):
                raise self._closed_error() from exc
            raise
        if isinstance(response, aiohttp.ClientResponse):
            self._track_stream(response)
        return response

    def _track_stream(self, response: aiohttp.ClientResponse) -> None:
        """Remember a stream (watch, logs) the caller reads from later, for close() to end."""
        if self._streams is None:
            self._streams = weakref.WeakSet()
        self._streams.add(response)

    async def _preloaded(self, response: aiohttp.ClientResponse) -> rest.RESTResponse:
        """What kubernetes_asyncio's preloading makes of ``response`` (its data read within
        the limits; a refusal: the start of its body), raising ``ApiException`` for non-2xx."""
        if 200 <= response.status <= 299:
            what = f"{response.method} {response.url.path}"
            data = await read_body(response, self.limits, what, hint="list in pages (limit=)")
        else:
            data, _total = await read_error_body(response)
        answer = rest.RESTResponse(response, data)
        _REST_LOG.debug("response body: %s", answer.data)  # kubernetes_asyncio's own record
        if not 200 <= answer.status <= 299:
            raise ApiException(http_resp=answer)  # type: ignore[arg-type]  # what the library passes
        return answer

    async def close(self) -> None:
        """Close open streams first (closing the session alone leaves a watch blocked on its
        read forever), then the session."""
        streams, self._streams = self._streams, None
        for response in list(streams or ()):
            response.close()
        await super().close()

    @property
    def basic_authorization(self) -> str | None:
        """The ``Authorization`` value of a basic-auth kubeconfig (None otherwise), for
        connections made outside ``request()`` such as WebSocket upgrades."""
        return self._basic

    def _who(self) -> str:
        return f"cluster {self.auth.cluster_id!r}" if self.auth and self.auth.cluster_id else "this client"

    def _closed_error(self) -> KomError:
        return KomError(f"the API client of {self._who()} is closed (the cluster was unregistered or closed)")

    async def _with_retries(self, method: str, url: str, send: Callable[[], Awaitable[Any]]) -> Any:
        """``send()``, retried per ``retry_policy`` when it is an idempotent read that failed
        transiently; the last attempt's answer or error is what the caller gets."""
        policy = self.retry_policy
        if policy is None or not policy.applies_to(method):
            return await send()
        where = url.split("?", 1)[0]
        for attempt in range(1, policy.attempts):
            try:
                response = await send()
            except aiohttp.ClientError as exc:
                if self.closed or not policy.retry_exception(exc):
                    raise
                what, retry_after = f"failed ({type(exc).__name__})", None
            else:
                status = getattr(response, "status", None)
                if not policy.retry_status(status) or not isinstance(response, aiohttp.ClientResponse):
                    return response
                # an overloaded or failing server: drop the answer and ask again
                what = f"answered {status}"
                retry_after = response.headers.get("Retry-After")
                response.release()
            wait = policy.delay(attempt, retry_after)
            log.info(
                "%s %s %s; retry %d of %d in %.2f s",
                method,
                where,
                what,
                attempt,
                policy.attempts - 1,
                wait,
            )
            await policy.sleep(wait)
        return await send()


def limits_of(api_client: ApiClient) -> Limits:
    """The read limits of ``api_client``: its own for a kom-async client, else the trusted ones."""
    return api_client.limits if isinstance(api_client, KomApiClient) else TRUSTED_LIMITS

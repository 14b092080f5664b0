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
import ssl
import urllib.request
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from kubernetes_asyncio.client import ApiClient, Configuration, rest
from kubernetes_asyncio.client.exceptions import ApiException

from kom_async.config.limits import TRUSTED_LIMITS, Limits
from kom_async.config.urls import redact_url
from kom_async.errors import KomError, KubeconfigRefused
from kom_async.transport import restlog
from kom_async.transport.authflow import Rejected, TokenAuth
from kom_async.transport.bounded import read_body, read_error_body
from kom_async.transport.failures import mapped_failures
from kom_async.transport.retry import DEFAULT_RETRY_POLICY, RetryPolicy

_READ_BUFSIZE = 2**21  # watch events can be large (etcd allows ~1.5 MiB objects)

log = logging.getLogger("kom_async.http")
_REST_LOG = logging.getLogger("kubernetes_asyncio.client.rest")
restlog.install()  # kubernetes_asyncio logs whole response bodies (Secrets too) at DEBUG


async def _refuse_redirect(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestRedirectParams
) -> None:
    """Stop a redirect before it is followed: a server an untrusted kubeconfig names could
    otherwise send this host anywhere (plain http, a metadata address, an unlisted server)."""
    location = params.response.headers.get("Location", "")
    status = params.response.status
    params.response.close()
    raise KubeconfigRefused(
        f"the API server at {redact_url(str(params.url.origin()))} answered {status} with a redirect to "
        f"{redact_url(location)[:200]!r}; redirects are not followed for an untrusted kubeconfig "
        "(its server could send this host anywhere): give the kubeconfig the final server URL"
    )


class _RESTClient(rest.RESTClientObject):
    """kubernetes_asyncio's REST client, built around an SSL context we made in memory."""

    def __init__(
        self, configuration: Configuration, ssl_context: ssl.SSLContext, *, follow_redirects: bool = True
    ) -> None:
        # the stubs say str; kubernetes_asyncio itself stores None for "not set"
        self.server_hostname = configuration.tls_server_name  # type: ignore[assignment]
        # the kubeconfig's proxy-url, else HTTPS_PROXY/NO_PROXY as client-go reads them —
        # looked up once here: aiohttp's trust_env would do it (in a thread) on every request
        self.proxy = configuration.proxy or _env_proxy(configuration.host or "")  # type: ignore[assignment]
        self.proxy_headers = configuration.proxy_headers  # type: ignore[assignment]
        connector = aiohttp.TCPConnector(limit=configuration.connection_pool_maxsize, ssl=ssl_context)
        traces = []
        if not follow_redirects:
            traces.append(aiohttp.TraceConfig())
            traces[0].on_request_redirect.append(_refuse_redirect)
        self.pool_manager = aiohttp.ClientSession(
            connector=connector, trust_env=False, read_bufsize=_READ_BUFSIZE, trace_configs=traces
        )


def _env_proxy(url: str) -> str | None:
    """The proxy the environment sets for ``url`` (``*_PROXY``, minus ``NO_PROXY``), if any."""
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class KomApiClient(ApiClient):
    """An ``ApiClient`` with kom-async's TLS context, token auth flow and read limits."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        ssl_context: ssl.SSLContext,
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
        self.rest_client = _RESTClient(configuration, ssl_context, follow_redirects=follow_redirects)
        self.default_headers: dict[str, str] = {}
        self.cookie = None  # type: ignore[assignment]
        self.user_agent = "kom-async/0.1 (kubernetes_asyncio)"
        self.client_side_validation = configuration.client_side_validation
        self.auth = auth
        #: how much this cluster's server may make us hold (bodies, logs, watch lines, exec output)
        self.limits = limits
        self._streams: weakref.WeakSet[aiohttp.ClientResponse] = weakref.WeakSet()
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
    def closed(self) -> bool:
        return bool(self.rest_client.pool_manager.closed)

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
            self._streams.add(response)  # a stream (watch, logs) the caller reads from later
        return response

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
        for response in list(self._streams):
            response.close()
        self._streams.clear()
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

"""The one place where tokens meet kubernetes_asyncio.

``KomApiClient`` is a kubernetes_asyncio ``ApiClient`` whose every request passes through a
small auth flow (in the manner of httpx's auth flows): attach the provider's token, and on a
401 refresh once (single-flight across all concurrent 401s) and retry the request once.
Generated APIs, the dynamic client, watches and streaming (``_preload_content=False``)
all go through ``ApiClient.request``, so they are all covered. Idempotent reads are also
retried a bounded number of times on overload, transient 5xx and broken connections
(see :mod:`kom_async.transport.retry`).
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

from kom_async.auth.provider import TokenProvider
from kom_async.auth.token import Token
from kom_async.config.urls import redact_url
from kom_async.errors import (
    ClusterUnreachable,
    EKSAuthError,
    EKSAuthErrorKind,
    ExecPluginError,
    KomError,
    KubeconfigRefused,
)
from kom_async.transport import restlog
from kom_async.transport.retry import DEFAULT_RETRY_POLICY, RetryPolicy

_READ_BUFSIZE = 2**21  # watch events can be large (etcd allows ~1.5 MiB objects)

log = logging.getLogger("kom_async.http")
restlog.install()  # kubernetes_asyncio logs whole response bodies (Secrets too) at DEBUG


class TokenAuth:
    """Bearer-token auth flow: ``apply`` before a request, ``recover`` after a 401."""

    def __init__(
        self,
        provider: TokenProvider,
        *,
        cluster_id: str = "",
        is_eks: bool = False,
        diagnose: Callable[[], Awaitable[EKSAuthError]] | None = None,
    ) -> None:
        self.provider = provider
        self.cluster_id = cluster_id
        self.is_eks = is_eks
        #: tells why an EKS token was refused twice (default: the token source's own ``diagnose``)
        self.diagnose = diagnose or getattr(provider.source, "diagnose", None)

    async def apply(self, headers: dict[str, str]) -> Token:
        token = await self.provider.get_token()
        headers["Authorization"] = f"Bearer {token.value}"
        return token

    async def recover(self, headers: dict[str, str], rejected: Token) -> Token:
        token = await self.provider.refresh(rejected)
        headers["Authorization"] = f"Bearer {token.value}"
        return token

    async def rejected_twice(self) -> EKSAuthError:
        """The error for an EKS token refused after the refresh: the source tells the cause
        apart when it can (STS GetCallerIdentity with the same credentials)."""
        if self.diagnose is not None:
            error: EKSAuthError = await self.diagnose()
        else:
            error = EKSAuthError(
                EKSAuthErrorKind.PermissionDenied,
                "the API server answered 401 to a freshly minted token: the IAM identity is not "
                "mapped to a Kubernetes user (check the cluster's access entries / aws-auth "
                "ConfigMap), or the token was minted for another cluster name",
                cluster_id=self.cluster_id or None,
            )
        self.failed(error)
        return error

    def failed(self, exc: BaseException) -> None:
        """Count an authentication failure that ends a request, by kind."""
        if isinstance(exc, EKSAuthError):
            kind = exc.kind.value
        elif isinstance(exc, ApiException) and exc.status == 401:
            kind = "Unauthorized"
        elif isinstance(exc, ExecPluginError):
            kind = "ExecFailed"
        else:
            kind = type(exc).__name__
        self.provider.note_auth_failure(kind)


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
    """An ``ApiClient`` with kom-async's TLS context and token auth flow."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        ssl_context: ssl.SSLContext,
        auth: TokenAuth | None = None,
        basic_auth: tuple[str, str] | None = None,
        retry_policy: RetryPolicy | None = DEFAULT_RETRY_POLICY,
        follow_redirects: bool = True,
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
        try:
            response = await self._request(
                method,
                url,
                query_params=query_params,
                headers=headers,
                post_params=post_params,
                body=body,
                _preload_content=_preload_content,
                _request_timeout=_request_timeout,
            )
        except Exception as exc:
            # closing the client (unregister/aclose) breaks requests in flight with whatever
            # aiohttp happens to raise (even AssertionError): say what happened instead
            if self.closed and not isinstance(exc, KomError):
                raise self._closed_error() from exc
            if isinstance(exc, aiohttp.ClientConnectorCertificateError):
                raise ClusterUnreachable(
                    f"TLS verification of the API server of {self._who()} failed "
                    f"({exc.certificate_error}); check the kubeconfig's certificate-authority-data "
                    "and tls-server-name"
                ) from None
            if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
                raise ClusterUnreachable(
                    f"cannot reach the API server of {self._who()} at "
                    f"{redact_url(self.configuration.host or '')}: {type(exc).__name__}: "
                    f"{redact_url(str(exc))}"
                ) from exc
            raise
        if isinstance(response, aiohttp.ClientResponse):
            self._streams.add(response)  # a stream (watch, logs) the caller reads from later
        return response

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

    async def _request(
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
        headers = dict(headers or {})
        # long on purpose: auth header, send, 401 recovery and read retries are one loop;
        # split up, the retry state would have to travel between helpers
        if self._basic is not None:
            headers["Authorization"] = self._basic

        async def send() -> Any:
            return await ApiClient.request(
                self,
                method,
                url,
                query_params=query_params,
                headers=headers,
                post_params=post_params,
                body=body,
                _preload_content=_preload_content,
                _request_timeout=_request_timeout,
            )

        auth = self.auth
        if auth is None:
            return await self._with_retries(method, url, send)
        try:
            token = await auth.apply(headers)
        except KomError as exc:
            auth.failed(exc)
            raise
        try:
            response = await self._with_retries(method, url, send)
        except ApiException as exc:
            if exc.status != 401:
                raise
        else:
            if _preload_content or response.status != 401:
                return response
            response.release()
        # 401: refresh once (shared by every concurrent 401) and retry once
        try:
            await auth.recover(headers, token)
        except KomError as exc:
            auth.failed(exc)
            raise
        try:
            response = await self._with_retries(method, url, send)
        except ApiException as exc:
            if exc.status != 401:
                raise
            if not auth.is_eks:
                auth.failed(exc)
                raise
            response = None
        if response is not None and (_preload_content or response.status != 401):
            auth.provider.note_unauthorized_recovery()
            return response
        if not auth.is_eks:
            auth.provider.note_auth_failure("Unauthorized")
            return response  # a stream: the caller reads the 401 itself
        if response is not None:
            response.release()
        error = await auth.rejected_twice()
        if error.__cause__ is None:
            raise error from None
        raise error

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
            except ApiException as exc:
                if not policy.retry_status(exc.status):
                    raise
                what = f"answered {exc.status}"
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
            except aiohttp.ClientError as exc:
                if self.closed or not policy.retry_exception(exc):
                    raise
                what, retry_after = f"failed ({type(exc).__name__})", None
            else:
                status = getattr(response, "status", None)
                if not policy.retry_status(status):
                    return response
                # a streamed (_preload_content=False) answer: drop it and ask again
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

"""EKS DescribeCluster, signed in-process (``sign.sign_headers``) and sent over one aiohttp
session per AWS identity, and the one retry rule of every EKS call.

A botocore call spends about a millisecond of CPU building, signing and parsing; registering
10,000 clusters by name makes 10,000 of them. This path costs a tenth of that, and keeps what
botocore decides: the endpoint, signing region and name come from the identity's botocore EKS
client, the trust from ``ca_bundle`` / ``REQUESTS_CA_BUNDLE`` / botocore's bundle, proxies
from the environment, the timeouts from ``aws.CLIENT_CONFIG``. Failures are raised as
botocore's exceptions, so the one AWS error map (``aws_errors``) applies unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp
from botocore import exceptions as bexc
from botocore.httpsession import get_cert_path

from kom_async.auth.eks.sign import SigningKeys, sign_headers
from kom_async.backoff import exponential_backoff
from kom_async.errors import EKSAuthError, EKSAuthErrorKind

T = TypeVar("T")

#: AWS error codes that mean "slow down": retried with backoff, never reported at once
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
#: the most of a DescribeCluster answer read (a real one is a few KiB)
MAX_ANSWER_BYTES = 1024 * 1024
#: connections per identity, as botocore's default ``max_pool_connections``
MAX_CONNECTIONS = 10
USER_AGENT = "kom-async (DescribeCluster)"


class Backoff(Protocol):
    """How often to try a call and how long to wait between tries (``RetryPolicy`` is one)."""

    @property
    def attempts(self) -> int: ...

    def delay(self, retry: int, retry_after: str | None = None) -> float: ...

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]: ...


@dataclass(frozen=True)
class AWSRetry:
    """Registration's backoff for an EKS call: three tries, as botocore's standard mode."""

    attempts: int = 3
    base: float = 0.5
    cap: float = 5.0

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        return exponential_backoff(retry, base=self.base, cap=self.cap, rng=_RNG)

    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]:
        return asyncio.sleep


_RNG = Random()


def retryable(exc: BaseException) -> bool:
    """True for answers a later try can fix: throttling, a 5xx, a connection that failed."""
    if isinstance(exc, bexc.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in THROTTLING_CODES or status == 429 or status >= 500
    return isinstance(exc, (bexc.ConnectionError, bexc.HTTPClientError))


async def call_with_backoff(backoff: Backoff, call: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """``call(**kwargs)``, tried up to ``backoff.attempts`` times while it fails with ``retryable``."""
    retry = 0
    while True:
        try:
            return await call(**kwargs)
        except Exception as exc:
            retry += 1
            if retry >= backoff.attempts or not retryable(exc):
                raise
            await backoff.sleep(backoff.delay(retry))


class EKSApi:
    """DescribeCluster for one identity at one endpoint; ``keys`` returns its current keys."""

    def __init__(
        self,
        *,
        endpoint_url: str,
        region: str,
        signing_name: str,
        keys: Callable[[], Awaitable[SigningKeys]],
        ca_bundle: str | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self.signing_name = signing_name
        self._keys = keys
        self._ca_bundle = ca_bundle
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout, sock_read=read_timeout)
        self._proxy = _proxy_for(self.endpoint_url)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"EKSApi({self.endpoint_url!r}, region={self.region!r})"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            tls: ssl.SSLContext | bool = True
            if self.endpoint_url.startswith("https:"):
                tls = _trust(self._ca_bundle)
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=tls)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def describe_cluster(self, name: str) -> dict[str, Any]:
        """DescribeCluster's answer (``{"cluster": {...}}``), or botocore's exception for it."""
        url = f"{self.endpoint_url}/clusters/{quote(name, safe='')}"
        keys = await self._keys()
        headers = sign_headers(
            method="GET",
            url=url,
            region=self.region,
            service=self.signing_name,
            keys=keys,
            when=datetime.now(UTC),
        )
        headers["User-Agent"] = USER_AGENT
        try:
            async with self._client().get(
                url, headers=headers, proxy=self._proxy, allow_redirects=False
            ) as response:
                body = await _read_capped(response, self.endpoint_url)
                status, error_type = response.status, response.headers.get("x-amzn-ErrorType", "")
                request_id = response.headers.get("x-amzn-RequestId", "")
        except TimeoutError as exc:
            raise bexc.ReadTimeoutError(endpoint_url=url, error=exc or "timed out") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise bexc.EndpointConnectionError(endpoint_url=url, error=exc) from None
        answer = _json(body)
        if 200 <= status <= 299 and isinstance(answer, dict):
            return answer
        raise bexc.ClientError(_error_response(status, error_type, request_id, answer), "DescribeCluster")

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _proxy_for(url: str) -> str | None:
    """The proxy botocore would use for ``url``: the environment's, unless NO_PROXY bypasses it."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxies.get(parts.scheme)


def _trust(ca_bundle: str | None) -> ssl.SSLContext:
    """The CAs botocore trusts: ``ca_bundle`` (AWS_CA_BUNDLE or the profile), else
    REQUESTS_CA_BUNDLE, else botocore's own bundle."""
    where = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or get_cert_path(True)
    if isinstance(where, str) and os.path.isdir(where):
        return ssl.create_default_context(capath=where)
    return ssl.create_default_context(cafile=where if isinstance(where, str) else None)


async def _read_capped(response: aiohttp.ClientResponse, endpoint: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise EKSAuthError(
                EKSAuthErrorKind.NetworkError,
                f"the DescribeCluster answer from {endpoint} is larger than "
                f"{MAX_ANSWER_BYTES // 1024} KiB, far more than EKS sends; is AWS_ENDPOINT_URL_EKS "
                "(or the profile's endpoint_url) the EKS API?",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else {}
    except ValueError:
        return None


def _error_response(status: int, error_type: str, request_id: str, answer: Any) -> dict[str, Any]:
    """botocore's ``error_response`` for a rest-json error answer: the code from
    ``x-amzn-ErrorType`` (or the body's ``__type``), the body's message."""
    body = answer if isinstance(answer, dict) else {}
    code = error_type.split(":", 1)[0] or str(body.get("__type") or body.get("code") or "").split("#")[-1]
    if answer is None:
        code, message = code or "InvalidResponse", f"the answer (HTTP {status}) is not JSON"
    else:
        message = str(body.get("message") or body.get("Message") or "")
    return {
        "Error": {"Code": code or str(status), "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": request_id},
    }

"""A loopback HTTP proxy in front of moto, so tests can make STS or EKS slow or failing.

Clients get the proxy's URL as their AWS endpoint; every request is forwarded to moto
unless a :class:`~kom_async.lab.faults.Fault` for its service says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kom_async.lab.faults import Fault
from kom_async.lab.listen import InFlight, listen_loopback

_SCOPE = re.compile(r"Credential=[^/\s,]+/\d{8}/[^/\s,]+/([a-z0-9-]+)/aws4_request")
_KEY = re.compile(r"Credential=([A-Z0-9]{16,128})/")
_QUERY_KEY = re.compile(r"X-Amz-Credential=([A-Z0-9]{16,128})%2F", re.I)
# what real STS says for each refusal a test may ask for
STS_REFUSALS = {
    "InvalidClientTokenId": "The security token included in the request is invalid.",
    "SignatureDoesNotMatch": "The request signature we calculated does not match the signature you provided.",
    "ExpiredToken": "The security token included in the request is expired",
}
_QUERY_SCOPE = re.compile(r"X-Amz-Credential=[^&]*?%2F\d{8}%2F[^&%]+%2F([a-z0-9-]+)%2F", re.I)
# hop-by-hop headers, and the ones the proxy's own server writes (moto's Server and Date beside
# aiohttp's would reach the client twice, which aiohttp's client refuses since 3.13.4)
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "server", "date"}
)


def service_of(request: web.Request) -> str:
    """The AWS service a request is for, from its SigV4 credential scope ("unknown" if none)."""
    m = _SCOPE.search(request.headers.get("Authorization", ""))
    if m is None:
        m = _QUERY_SCOPE.search(request.query_string)
    return m.group(1).lower() if m else "unknown"


def access_key_of(request: web.Request) -> str | None:
    """The access key id a request is signed with (header or presigned query), if any."""
    m = _KEY.search(request.headers.get("Authorization", "")) or _QUERY_KEY.search(request.query_string)
    return m.group(1) if m else None


def region_of(request: web.Request) -> str | None:
    """The region a request is signed for, from its SigV4 credential scope."""
    header = request.headers.get("Authorization", "")
    m = re.search(r"Credential=[^/\s,]+/\d{8}/([a-z0-9-]+)/", header)
    return m.group(1) if m else None


def aws_error(service: str, status: int, code: str, message: str, headers: dict[str, str]) -> web.Response:
    """An AWS error answer as the service's protocol writes it: JSON with ``x-amzn-ErrorType``
    for EKS (rest-json), an XML ``ErrorResponse`` for the query services (STS, IAM)."""
    if service == "eks":
        return web.Response(
            status=status,
            headers={**headers, "x-amzn-ErrorType": code},
            content_type="application/json",
            text=json.dumps({"message": message}),
        )
    return web.Response(
        status=status,
        headers=headers,
        content_type="text/xml",
        text=(
            f"<ErrorResponse><Error><Type>{'Receiver' if status >= 500 else 'Sender'}</Type>"
            f"<Code>{code}</Code><Message>{message}"
            "</Message></Error><RequestId>lab</RequestId></ErrorResponse>"
        ),
    )


@dataclass(frozen=True)
class Denial:
    """Refuse one service's calls in ``region`` (None: all) from ``account`` (None: all) with
    ``code``: ``AccessDeniedException`` (a policy says no) or ``UnrecognizedClientException``
    (what AWS answers in an opt-in region the account has not enabled)."""

    service: str
    region: str | None
    account: str | None
    code: str

    def matches(self, service: str, region: str | None, account: Callable[[], str | None]) -> bool:
        return (
            self.service == service
            and self.region in (None, region)
            and (self.account is None or self.account == account())
        )


DENIAL_MESSAGES = {
    "AccessDeniedException": "User is not authorized to perform this action (lab denial)",
    "UnrecognizedClientException": "The security token included in the request is invalid",
}


def sts_refusal(code: str) -> web.Response:
    """STS's 403 answer for refused credentials (``InvalidClientTokenId``, ``ExpiredToken``...)."""
    return web.Response(
        status=403,
        content_type="text/xml",
        text=(
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{STS_REFUSALS[code]}</Message></Error><RequestId>lab</RequestId></ErrorResponse>"
        ),
    )


class AWSProxy:
    """Forwards to moto's WSGI ``app`` (served at ``upstream`` too, for other clients);
    ``faults[service]`` perturbs that service's requests."""

    def __init__(self, upstream: str, app: Any) -> None:
        self.upstream = upstream
        #: moto's WSGI app, called in-process
        self.app = app
        self.faults: dict[str, Fault] = {}
        #: access key id -> the STS error code every STS call signed with it gets
        self.refused_keys: dict[str, str] = {}
        #: refusals by service, region and account (see ``Denial``)
        self.denials: list[Denial] = []
        #: the account an access key belongs to (the lab looks it up in moto)
        self.account_of: Callable[[str], str | None] = lambda key: None
        self.requests: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._in_flight = InFlight()

    async def start(self) -> None:
        """Listen on a free 127.0.0.1 port."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._in_flight.track(self._handle))
        # handler_cancellation: a client that gives up (a cancelled registration) ends its
        # delayed request here too, instead of leaving it sleeping until stop()
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        self._runner = runner
        port = await listen_loopback(runner)
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Cancel and await requests still being served (a 'delay' fault sleeping), stop
        listening; without the cancel, aiohttp waits for them."""
        await self._in_flight.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        service = service_of(request)
        self.requests[service] += 1
        refusal = self.refused_keys.get(access_key_of(request) or "") if service == "sts" else None
        if refusal is not None:
            self.failed[service] += 1
            return sts_refusal(refusal)
        denied = self._denial(request, service)
        if denied is not None:
            self.failed[service] += 1
            return aws_error(service, 403, denied.code, DENIAL_MESSAGES.get(denied.code, denied.code), {})
        fault = self.faults.get(service)
        if fault is not None and fault.take():
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.unavailable:
                self.failed[service] += 1
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=503)  # never sent: the connection is gone
            if fault.status is not None:
                self.failed[service] += 1
                return aws_error(
                    service, fault.status, fault.code, "lab fault injected", fault.retry_after_header()
                )
        return await self._forward(request)

    def _denial(self, request: web.Request, service: str) -> Denial | None:
        """The first denial that applies to this request, if any."""
        if not self.denials:
            return None
        region = region_of(request)
        key = access_key_of(request) or ""
        for denial in self.denials:
            if denial.matches(service, region, lambda: self.account_of(key)):
                return denial
        return None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        """Pass the request to moto's WSGI app in a worker thread and its answer back (no HTTP
        hop, no new connection and thread per request: twice the DescribeCluster rate)."""
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        status, out_headers, payload = await asyncio.to_thread(
            self._call_app, request.method, request.raw_path, headers, body
        )
        return web.Response(status=status, body=payload, headers=out_headers)

    def _call_app(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One request through moto's WSGI app, in the calling (worker) thread."""
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        path, _, query = raw_path.partition("?")
        builder = EnvironBuilder(
            path=path,
            query_string=query,
            method=method,
            headers=list(headers.items()),
            data=body,
            base_url=self.upstream,
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        app_iter, status, answer_headers = run_wsgi_app(self.app, environ, buffered=True)
        payload = b"".join(app_iter)
        kept = {k: v for k, v in answer_headers.items() if k.lower() not in _HOP_HEADERS}
        return int(status.split(None, 1)[0]), kept, payload

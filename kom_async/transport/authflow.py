"""The one auth flow of every request, stream and WebSocket upgrade to an API server.

Apply the provider's token; on a 401, refresh once (single flight, shared with every
concurrent 401) and retry once; on a second 401 for EKS, tell why (the identity is not
mapped, the credentials are refused...) with an ``EKSAuthError``. ``TokenAuth.run`` is the
flow; each caller only says how one attempt is sent and raises :class:`Rejected` for a 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from kom_async.auth.provider import TokenProvider
from kom_async.auth.token import Token
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, ExecPluginError, KomError

T = TypeVar("T")


class Rejected(Exception):
    """An attempt was answered 401: ``answer`` is the open response or the error it made."""

    def __init__(self, answer: aiohttp.ClientResponse | BaseException) -> None:
        super().__init__("401")
        self.answer = answer

    def discard(self) -> None:
        """Forget the answer (another attempt follows): release an open response."""
        if isinstance(self.answer, aiohttp.ClientResponse):
            self.answer.release()

    def final(self) -> object:
        """The answer as the caller sees it when nothing more is tried: raised if an error."""
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


class TokenAuth:
    """Bearer-token auth flow: ``run`` one request through apply → 401 → refresh → retry."""

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

    async def run(self, headers: dict[str, str], attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` with the token in ``headers``; one refresh and one retry on a 401
        (``attempt`` raises :class:`Rejected`); a second 401 is the diagnosis for EKS, else
        the answer itself (a 401 response the caller reads, or the 401 error raised)."""
        token = await self._set(headers, None)
        try:
            return await attempt()
        except Rejected as first:
            first.discard()
        await self._set(headers, token)
        try:
            result = await attempt()
        except Rejected as second:
            if not self.is_eks:
                self.provider.note_auth_failure("Unauthorized")
                return cast(T, second.final())
            second.discard()
            error = await self.rejected_twice()
            if error.__cause__ is None:
                raise error from None
            raise error from error.__cause__
        self.provider.note_unauthorized_recovery()
        return result

    async def _set(self, headers: dict[str, str], rejected: Token | None) -> Token:
        """Put the current token (or, after ``rejected``, a refreshed one) in ``headers``."""
        try:
            if rejected is None:
                token = await self.provider.get_token()
            else:
                token = await self.provider.refresh(rejected)
        except KomError as exc:
            self.failed(exc)
            raise
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

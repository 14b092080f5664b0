"""Mint EKS tokens in-process: a SigV4-presigned STS GetCallerIdentity URL.

The token is ``k8s-aws-v1.`` + unpadded base64url of the URL, presigned for 60 s with
``x-k8s-aws-id`` among the signed headers; the cluster accepts it for 15 minutes, we
report 14. Signing is done here (a few HMACs) rather than through botocore's presigner,
so the token never passes a logging call and the signing time can be injected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.exceptions import NoCredentialsError

from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.eks.aws import AWSClientPool, AWSContext, map_aws_error, unsupported_env_names
from kom_async.auth.eks.config import EKSAuthConfig
from kom_async.auth.token import Token

__all__ = [
    "TOKEN_LIFETIME",
    "TOKEN_PREFIX",
    "NativeEKSTokenSource",
    "get_token",
    "native_unsupported_reason",
    "presign_eks_url",
    "token_from_url",
]

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_LIFETIME = timedelta(minutes=14)
URL_EXPIRES_SECONDS = 60
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_OPERATION = (("Action", "GetCallerIdentity"), ("Version", "2011-06-15"))


@dataclass(frozen=True, slots=True)
class _Keys:
    access_key: str
    secret_key: str
    token: str | None

    def __repr__(self) -> str:
        return f"_Keys(access_key={self.access_key[:4]}..., secret_key=<redacted>)"


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


_OPERATION_ENCODED = tuple((_enc(k), _enc(v)) for k, v in _OPERATION)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def presign_eks_url(
    *,
    sts_url: str,
    region: str,
    k8s_aws_id: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    when: datetime,
    service: str = "sts",
) -> str:
    """SigV4 query-presign GET ``sts_url?Action=GetCallerIdentity`` for ``k8s_aws_id`` at ``when``.

    Produces byte-for-byte the URL botocore's presigner (and so ``aws eks get-token``)
    produces for the same inputs.
    """
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    parts = urlsplit(sts_url)
    host = parts.netloc
    if parts.port is not None and (
        (parts.scheme == "https" and parts.port == 443) or (parts.scheme == "http" and parts.port == 80)
    ):
        host = parts.hostname or host
    path = parts.path or "/"
    auth: list[tuple[str, str]] = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(URL_EXPIRES_SECONDS)),
        ("X-Amz-SignedHeaders", f"host;{K8S_AWS_ID_HEADER}"),
    ]
    if session_token is not None:
        auth.append(("X-Amz-Security-Token", session_token))
    encoded_auth = [(_enc(k), _enc(v)) for k, v in auth]
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted([*_OPERATION_ENCODED, *encoded_auth]))
    canonical_request = "\n".join(
        (
            "GET",
            quote(path, safe="/~"),
            canonical_query,
            f"host:{host}\n{K8S_AWS_ID_HEADER}:{' '.join(k8s_aws_id.split())}\n",
            f"host;{K8S_AWS_ID_HEADER}",
            _EMPTY_SHA256,
        )
    )
    string_to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            stamp,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        )
    )
    key = _hmac(f"AWS4{secret_key}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    operation = "&".join(f"{k}={v}" for k, v in _OPERATION_ENCODED)
    auth_query = "&".join(f"{k}={v}" for k, v in encoded_auth)
    return f"{parts.scheme}://{parts.netloc}{path}?{operation}&{auth_query}&X-Amz-Signature={signature}"


def token_from_url(url: str) -> str:
    """``k8s-aws-v1.`` + the URL in unpadded base64url."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def native_unsupported_reason(config: EKSAuthConfig) -> str | None:
    """None if the native source reproduces what the exec plugin would do; else why not."""
    if config.unsupported:
        return f"exec plugin uses {', '.join(config.unsupported)}, which the native source does not reproduce"
    names = unsupported_env_names(config.env)
    if names:
        return (
            f"exec env sets {', '.join(names)}, which the native source cannot apply without the subprocess"
        )
    return None


class NativeEKSTokenSource:
    """A ``TokenSource`` that presigns EKS tokens with aiobotocore credentials (kind ``eks-native``).

    AWS sessions and credentials live in the shared ``pool``; the source itself holds
    nothing to close, but ``aclose()`` is provided for the protocol.
    """

    kind = "eks-native"

    def __init__(
        self,
        config: EKSAuthConfig,
        *,
        pool: AWSClientPool,
        clock: Clock | None = None,
        cluster_id: str | None = None,
    ) -> None:
        self.config = config
        self._pool = pool
        self._clock = clock or system_clock
        self._cluster_id = cluster_id
        self._context: AWSContext | None = None

    def __repr__(self) -> str:
        c = self.config
        return (
            f"NativeEKSTokenSource(cluster={c.cluster_name!r}, region={c.region!r}, "
            f"profile={c.profile!r}, role_arn={c.role_arn!r})"
        )

    async def _ctx(self) -> AWSContext:
        if self._context is None:
            c = self.config
            self._context = await self._pool.context(
                profile=c.profile,
                region=c.region,
                role_arn=c.role_arn,
                external_id=c.external_id,
                env=c.env,
                profile_from_env=c.profile_from_env,
                cluster_id=self._cluster_id,
            )
        return self._context

    async def fetch(self, *, at: datetime | None = None) -> Token:
        """Presign a fresh token (``at`` overrides the signing time, for tests)."""
        ctx = await self._ctx()
        try:
            frozen: Any = await ctx.frozen_credentials()
        except Exception as exc:
            raise map_aws_error(exc, action="refresh AWS credentials", cluster_id=self._cluster_id) from None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise map_aws_error(NoCredentialsError(), action="sign an EKS token", cluster_id=self._cluster_id)
        when = (at or self._clock.now()).astimezone(UTC).replace(microsecond=0)
        url = presign_eks_url(
            sts_url=ctx.sts_url,
            region=ctx.signing_region,
            service=ctx.signing_name,
            k8s_aws_id=self.config.k8s_aws_id,
            access_key=frozen.access_key,
            secret_key=frozen.secret_key,
            session_token=frozen.token,
            when=when,
        )
        return Token(token_from_url(url), expires_at=when + TOKEN_LIFETIME)

    async def aclose(self) -> None:
        """Forget the pooled context; the pool owns and closes the clients."""
        self._context = None


async def get_token(
    *,
    cluster_name: str,
    region: str | None = None,
    role_arn: str | None = None,
    profile: str | None = None,
    external_id: str | None = None,
) -> Token:
    """Mint one EKS token natively (no subprocess), with a throwaway AWS client pool.

    Long-lived callers should keep an ``AWSClientPool`` and a ``NativeEKSTokenSource``.
    """
    config = EKSAuthConfig(
        cluster_name=cluster_name,
        region=region,
        profile=profile,
        role_arn=role_arn,
        external_id=external_id,
    )
    async with AWSClientPool() as pool:
        source = NativeEKSTokenSource(config, pool=pool)
        try:
            return await source.fetch()
        finally:
            await source.aclose()

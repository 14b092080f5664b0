"""Mint EKS tokens in-process from the credentials of a shared aiobotocore pool.

The signing itself lives in :mod:`kom_async.auth.eks.sign` (stdlib only); this module
adds where the keys and the STS target come from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import NoCredentialsError

from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.eks.aws import AWSClientPool, AWSContext
from kom_async.auth.eks.aws_errors import map_aws_error, scrubbed
from kom_async.auth.eks.diagnose import CredentialCheck, describe_source, env_origin, permission_denied
from kom_async.auth.eks.env import unsupported_env_names
from kom_async.auth.eks.sign import TOKEN_LIFETIME, presign_eks_url, token_from_url
from kom_async.auth.token import Token
from kom_async.config.eks import EKSAuthConfig
from kom_async.errors import EKSAuthError, EKSAuthErrorKind


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


async def lease_identity(pool: AWSClientPool, config: EKSAuthConfig, cluster_id: str | None) -> AWSContext:
    """Lease from ``pool`` the AWS identity ``config`` names; give it back with ``pool.release``."""
    return await pool.context(**config.aws_identity, cluster_id=cluster_id, lease=True)


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
        self._check = CredentialCheck(
            cluster_id=cluster_id, describe=self._source_words, time=lambda: self._clock.now().timestamp()
        )

    def __repr__(self) -> str:
        c = self.config
        return (
            f"NativeEKSTokenSource(cluster={c.cluster_name!r}, region={c.region!r}, "
            f"profile={c.profile!r}, role_arn={c.role_arn!r})"
        )

    async def _ctx(self) -> AWSContext:
        """This source's AWS identity, leased from the pool until ``aclose()``."""
        if self._context is None:
            ctx = await lease_identity(self._pool, self.config, self._cluster_id)
            if self._context is not None:  # a concurrent first fetch won
                await self._pool.release(ctx)
            else:
                self._context = ctx
        return self._context

    async def fetch(self, *, at: datetime | None = None) -> Token:
        """Presign a fresh token (``at`` overrides the signing time, for tests)."""
        ctx = await self._ctx()
        try:
            frozen: Any = await ctx.frozen_credentials()
        except Exception as exc:
            error = map_aws_error(exc, action="refresh AWS credentials", cluster_id=self._cluster_id)
            raise error from scrubbed(exc)
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

    @property
    def region(self) -> str | None:
        """The AWS region tokens are signed for (None until known when the profile decides)."""
        if self._context is not None:
            return self._context.region or self._context.signing_region or None
        return self.config.region

    def _source_words(self, method: str) -> str:
        c = self.config
        env_from = env_origin(c.env, from_kubeconfig=c.exec_config is not None)
        return describe_source(method, profile=c.profile, role_arn=c.role_arn, env_from=env_from)

    async def verify_credentials(self) -> str:
        """The IAM identity (ARN) AWS sees for these credentials, or ``InvalidCredentials``."""
        return await self._check.identity(await self._ctx())

    async def diagnose(self) -> EKSAuthError:
        """The error for a token the cluster refused twice: invalid credentials, or an identity
        the cluster does not map (with its ARN)."""
        try:
            arn = await self.verify_credentials()
        except EKSAuthError as exc:
            if exc.kind is EKSAuthErrorKind.InvalidCredentials:
                return exc
            error = EKSAuthError(
                EKSAuthErrorKind.PermissionDenied,
                "the API server refused a fresh token; its IAM identity may lack an access entry or "
                "aws-auth mapping, or the credentials may be invalid: checking them with STS failed "
                f"({exc})",
                cluster_id=self._cluster_id,
            )
            error.__cause__ = exc
            error.__suppress_context__ = True
            return error
        return permission_denied(arn, cluster_name=self.config.cluster_name, cluster_id=self._cluster_id)

    async def aclose(self) -> None:
        """Give the pooled identity back: the pool closes its clients once no source uses it."""
        ctx, self._context = self._context, None
        if ctx is not None:
            await self._pool.release(ctx)


async def get_token(
    *,
    cluster_name: str,
    region: str | None = None,
    role_arn: str | None = None,
    profile: str | None = None,
    external_id: str | None = None,
) -> Token:
    """Mint one EKS token natively (no subprocess).

    AWS sessions and credentials are kept in a pool per event loop (closed when the loop
    shuts down), so repeated calls cost microseconds, not a new AWS client each time.
    """
    from kom_async.auth.eks.default_pool import default_pool

    config = EKSAuthConfig(
        cluster_name=cluster_name,
        region=region,
        profile=profile,
        role_arn=role_arn,
        external_id=external_id,
    )
    return await NativeEKSTokenSource(config, pool=await default_pool()).fetch()

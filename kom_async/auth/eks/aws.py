"""Shared aiobotocore sessions for EKS: credentials, the STS endpoint, DescribeCluster.

One ``AWSClientPool`` holds one session (and its STS client) per (profile, region,
role, exec env), shared by every cluster that uses the same AWS identity. An exec
plugin's ``env`` is layered over ``os.environ`` inside the session, never written to
``os.environ``: several clusters with different AWS settings live in one process.
Every AWS call runs with botocore's DEBUG records suppressed for our task, because
botocore logs request headers, presigned URLs and AssumeRole response bodies.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import logging
import os
from collections import ChainMap
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession
from botocore import exceptions as bexc

from kom_async.auth.eks.aws_errors import map_aws_error, scrubbed
from kom_async.auth.eks.eks_api import AWSRetry, EKSApi, call_with_backoff
from kom_async.auth.eks.env import LayeredEnvSession
from kom_async.auth.eks.sign import SigningKeys
from kom_async.errors import EKSAuthError, EKSAuthErrorKind

log = logging.getLogger(__name__)

ROLE_SESSION_NAME = "kom-async"

# STS and EKS calls sit on the registration and refresh paths: fail within seconds when the
# endpoint is down (botocore's legacy defaults retry for ~10 s) rather than hang a request.
CLIENT_CONFIG = AioConfig(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"})
# Fleet discovery retries throttling itself, with the SDK's backoff and sleep (a test's
# virtual one included), so its EKS client makes exactly one attempt per call.
ONE_ATTEMPT_CONFIG = AioConfig(
    connect_timeout=5, read_timeout=15, retries={"total_max_attempts": 1, "mode": "standard"}
)

#: DescribeCluster while registering: tried three times on throttling, a 5xx or a failed connection
REGISTER_RETRY = AWSRetry()

# --------------------------------------------------------------------------- logging


_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("kom_async_quiet_aws", default=False)


class _QuietFilter(logging.Filter):
    """Drop botocore's DEBUG records emitted while one of our AWS calls runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_QUIET.get() and record.levelno < logging.INFO)


_FILTER = _QuietFilter("kom_async.aws")
_LOGGER_PREFIXES = ("botocore", "aiobotocore", "urllib3")
_seen_loggers = -1


def _install_filter() -> None:
    """Attach the filter to every botocore/aiobotocore logger (filters do not inherit)."""
    global _seen_loggers
    loggers = logging.Logger.manager.loggerDict
    if len(loggers) == _seen_loggers:
        return
    for name, logger in list(loggers.items()):
        if (
            isinstance(logger, logging.Logger)
            and name.split(".", 1)[0] in _LOGGER_PREFIXES
            and _FILTER not in logger.filters
        ):
            logger.addFilter(_FILTER)
    _seen_loggers = len(loggers)


@contextmanager
def quiet_aws_logs() -> Iterator[None]:
    """Suppress botocore DEBUG records (which print secrets) in this task while inside."""
    _install_filter()
    reset = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(reset)
        _install_filter()


class _FixedCredentialResolver:
    """A credential_provider component that hands out one (refreshable) credentials object."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    async def load_credentials(self) -> Any:
        return self._credentials


# --------------------------------------------------------------------------- pool


@dataclass(frozen=True)
class _Key:
    profile: str | None
    profile_from_env: bool
    region: str | None
    role_arn: str | None
    external_id: str | None
    env: tuple[tuple[str, str], ...] = field(repr=False)


@dataclass(frozen=True)
class ClusterEndpoint:
    """What DescribeCluster says about an ACTIVE cluster: where it is and whom to trust."""

    endpoint: str
    ca_data: bytes = field(repr=False)
    status: str
    arn: str | None = None
    name: str | None = None
    region: str | None = None


class AWSContext:
    """One AWS identity: a session, its STS client, credentials and the STS signing target.

    ``sts_url`` (scheme, host, path), ``signing_region`` and ``signing_name`` are what
    botocore resolves for GetCallerIdentity with this configuration, found once by
    presigning a probe request.
    """

    def __init__(self, session: AioSession, region: str | None, key: _Key | None = None) -> None:
        self.session = session
        self.region = region
        self.key = key
        #: the identity this one assumed a role from (the pool holds a lease on it for us)
        self.base: AWSContext | None = None
        self.credentials: Any = None
        self.sts_url = ""
        self.signing_region = ""
        self.signing_name = "sts"
        self._stack = AsyncExitStack()
        self._eks: Any = None
        self._eks_once: Any = None
        self._eks_api: EKSApi | None = None
        self._eks_lock = asyncio.Lock()
        self._eks_session: AioSession | None = None
        self._sts: Any = None
        #: how botocore found the keys: "env", "shared-credentials-file", "assume-role", "sso", ...
        self.credential_method = "unknown"

    async def _start(self, key: _Key, base: AWSContext | None) -> None:
        if base is None:
            sts = await self._stack.enter_async_context(
                self.session.create_client("sts", region_name=self.region, config=CLIENT_CONFIG)
            )
            self._sts = sts
            creds = await self.session.get_credentials()
            if creds is None:
                raise bexc.NoCredentialsError()
            self.credentials = creds
            self.credential_method = str(getattr(creds, "method", None) or "unknown")
            probe = await sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
            parts = urlsplit(probe)
            self.sts_url = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"
            scope = parse_qs(parts.query)["X-Amz-Credential"][0].split("/")
            self.signing_region, self.signing_name = scope[2], scope[3]
            self._eks_session = self.session
            return
        # A role: credentials from AssumeRole on the base identity, refreshed by
        # aiobotocore when close to their expiry; same endpoint as the base.
        base_session = base.session
        region = self.region

        def client_creator(service: str, **kwargs: Any) -> Any:
            kwargs.setdefault("config", CLIENT_CONFIG)
            return base_session.create_client(service, region_name=region, **kwargs)

        extra: dict[str, Any] = {"RoleSessionName": ROLE_SESSION_NAME}
        if key.external_id:
            extra["ExternalId"] = key.external_id
        fetcher = AioAssumeRoleCredentialFetcher(
            client_creator=client_creator,
            source_credentials=base.credentials,
            role_arn=key.role_arn,
            extra_args=extra,
        )
        self.credentials = AioDeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role"
        )
        await self.credentials.get_frozen_credentials()  # fail early: AccessDenied etc.
        self.credential_method = "assume-role"
        self.sts_url, self.signing_region = base.sts_url, base.signing_region
        self.signing_name = base.signing_name
        self.session.register_component("credential_provider", _FixedCredentialResolver(self.credentials))
        self._eks_session = self.session

    async def frozen_credentials(self) -> Any:
        """Current (access_key, secret_key, token), refreshing assumed-role keys if due."""
        with quiet_aws_logs():
            return await self.credentials.get_frozen_credentials()

    async def caller_identity(self) -> dict[str, Any]:
        """STS GetCallerIdentity with this identity's credentials (``Arn``, ``Account``, ``UserId``)."""
        async with self._eks_lock:
            if self._sts is None:
                assert self._eks_session is not None
                with quiet_aws_logs():
                    self._sts = await self._stack.enter_async_context(
                        self._eks_session.create_client("sts", region_name=self.region, config=CLIENT_CONFIG)
                    )
        with quiet_aws_logs():
            answer: dict[str, Any] = await self._sts.get_caller_identity()
        return answer

    async def eks_client(self, *, retrying: bool = True) -> Any:
        """The shared EKS client of this identity, created on first use; ``retrying=False``:
        another one whose calls are tried once (the caller retries, as discovery does)."""
        async with self._eks_lock:
            attr = "_eks" if retrying else "_eks_once"
            if getattr(self, attr) is None:
                assert self._eks_session is not None
                config = CLIENT_CONFIG if retrying else ONE_ATTEMPT_CONFIG
                with quiet_aws_logs():
                    client = await self._stack.enter_async_context(
                        self._eks_session.create_client("eks", region_name=self.region, config=config)
                    )
                setattr(self, attr, client)
            return getattr(self, attr)

    async def describe_cluster(self, name: str) -> dict[str, Any]:
        """DescribeCluster with this identity, signed in-process (``eks_api``): one try."""
        api = self._eks_api
        if api is None:
            client = await self.eks_client()  # botocore resolves endpoint, region and signing name
            async with self._eks_lock:
                api = self._eks_api
                if api is None:
                    assert self._eks_session is not None
                    api = EKSApi(
                        endpoint_url=client.meta.endpoint_url,
                        region=client.meta.region_name,
                        signing_name=client.meta.service_model.signing_name,
                        keys=self._signing_keys,
                        ca_bundle=self._eks_session.get_config_variable("ca_bundle"),
                        connect_timeout=CLIENT_CONFIG.connect_timeout,
                        read_timeout=CLIENT_CONFIG.read_timeout,
                    )
                    self._stack.push_async_callback(api.aclose)
                    self._eks_api = api
        return await api.describe_cluster(name)

    async def _signing_keys(self) -> SigningKeys:
        frozen = await self.frozen_credentials()
        return SigningKeys(frozen.access_key, frozen.secret_key, frozen.token)

    async def aclose(self) -> None:
        await self._stack.aclose()


class AWSClientPool:
    """aiobotocore sessions and clients shared per (profile, region, role, exec env).

    ``async with AWSClientPool() as pool:`` or call ``aclose()``; closing it closes every
    client it created. Users that hold an identity for long (a cluster's token source) take
    a lease (``context(lease=True)``) and ``release()`` it: the identity's clients are closed
    when its last lease goes, so the pool shrinks back as clusters are unregistered.
    """

    def __init__(self) -> None:
        self._contexts: dict[_Key, AWSContext] = {}
        self._leases: dict[_Key, int] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}
        self._closed = False

    async def __aenter__(self) -> AWSClientPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AWSClientPool(identities={len(self._contexts)}, closed={self._closed})"

    def __len__(self) -> int:
        return len(self._contexts)

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` ran; a closed pool creates no more clients."""
        return self._closed

    async def context(
        self,
        *,
        profile: str | None = None,
        region: str | None = None,
        role_arn: str | None = None,
        external_id: str | None = None,
        env: Mapping[str, str] | None = None,
        profile_from_env: bool = False,
        cluster_id: str | None = None,
        lease: bool = False,
    ) -> AWSContext:
        """The shared context for this identity, creating it (once) on first use; with
        ``lease=True`` the caller holds it until ``release(ctx)``."""
        env_items = tuple(sorted((env or {}).items()))
        key = _Key(profile, profile_from_env, region, role_arn, external_id, env_items)
        found = self._contexts.get(key)
        if found is None:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                found = self._contexts.get(key)
                if found is None:
                    found = await self._create(key, cluster_id)
        if lease:
            self._leases[key] = self._leases.get(key, 0) + 1
        return found

    async def _create(self, key: _Key, cluster_id: str | None) -> AWSContext:
        if self._closed:
            raise EKSAuthError(
                EKSAuthErrorKind.AWSConfigMissing,
                "the AWS client pool is closed (its registry was closed)",
                cluster_id=cluster_id,
            )
        env = dict(key.env)
        base = None
        if key.role_arn is not None:  # the role is assumed from the base identity, held meanwhile
            base = await self.context(
                profile=key.profile,
                region=key.region,
                env=env,
                profile_from_env=key.profile_from_env,
                cluster_id=cluster_id,
                lease=True,
            )
        ctx: AWSContext | None = None
        try:
            with quiet_aws_logs():
                ctx = AWSContext(self._new_session(env, key.profile, key.profile_from_env), key.region, key)
                ctx.base = base
                await ctx._start(key, base)
        except BaseException as exc:
            if ctx is not None:
                await ctx.aclose()
            if base is not None:
                await self.release(base)
            if isinstance(exc, Exception):
                action = f"assume role {key.role_arn}" if key.role_arn else "load AWS credentials"
                raise map_aws_error(exc, action=action, cluster_id=cluster_id) from scrubbed(exc)
            raise
        self._contexts[key] = ctx
        return ctx

    async def release(self, ctx: AWSContext) -> None:
        """Give back a lease from ``context(lease=True)``; the last one closes the identity's
        clients (and gives back its base identity's lease)."""
        key = ctx.key
        if key is None or self._contexts.get(key) is not ctx or key not in self._leases:
            return
        self._leases[key] -= 1
        if self._leases[key] > 0:
            return
        del self._leases[key], self._contexts[key]
        lock = self._locks.get(key)
        if lock is not None and not lock.locked():
            del self._locks[key]
        try:
            await ctx.aclose()
        finally:
            if ctx.base is not None:
                await self.release(ctx.base)

    def _new_session(self, env: Mapping[str, str], profile: str | None, profile_from_env: bool) -> AioSession:
        # A profile named by AWS_PROFILE (env) behaves like the env var; one from
        # --profile / profile=... is explicit and outranks env keys, as in the CLI.
        explicit = None if profile_from_env else profile
        if not env:
            return AioSession(profile=explicit)
        return LayeredEnvSession(ChainMap(dict(env), os.environ), profile=explicit)

    async def aclose(self) -> None:
        """Close every client and session the pool created; idempotent."""
        self._closed = True
        contexts, self._contexts = list(self._contexts.values()), {}
        self._leases.clear()
        self._locks.clear()
        for ctx in reversed(contexts):
            try:
                await ctx.aclose()
            except Exception:  # pragma: no cover - closing must not raise
                log.warning("closing an AWS client failed", exc_info=False)


async def describe_cluster(
    pool: AWSClientPool,
    *,
    cluster_name: str,
    region: str | None,
    profile: str | None = None,
    role_arn: str | None = None,
    env: Mapping[str, str] | None = None,
    external_id: str | None = None,
    profile_from_env: bool = False,
) -> ClusterEndpoint:
    """EKS DescribeCluster with the identity these settings name (see ``describe_with``)."""
    cluster_id = f"{region}-{cluster_name}" if region else cluster_name
    ctx = await pool.context(
        profile=profile,
        region=region,
        role_arn=role_arn,
        env=env,
        external_id=external_id,
        profile_from_env=profile_from_env,
        cluster_id=cluster_id,
    )
    return await describe_with(ctx, cluster_name, cluster_id=cluster_id)


async def describe_with(ctx: AWSContext, cluster_name: str, *, cluster_id: str | None) -> ClusterEndpoint:
    """EKS DescribeCluster with the identity ``ctx``: the endpoint and CA of an ACTIVE cluster,
    or an ``EKSAuthError`` (``cluster_id`` names the cluster in it)."""
    region = ctx.region
    try:
        response = await call_with_backoff(REGISTER_RETRY, ctx.describe_cluster, name=cluster_name)
    except Exception as exc:
        error = map_aws_error(exc, action=f"DescribeCluster {cluster_name!r}", cluster_id=cluster_id)
        if error.kind is EKSAuthErrorKind.ClusterNotFound:
            where = region or "the configured region"
            error = EKSAuthError(
                EKSAuthErrorKind.ClusterNotFound,
                f"no EKS cluster named {cluster_name!r} in {where} for this AWS account",
                cluster_id=cluster_id,
            )
        raise error from scrubbed(exc)
    return endpoint_of(
        response.get("cluster") or {}, cluster_name, cluster_id, ctx.region or ctx.signing_region
    )


def endpoint_of(
    cluster: Mapping[str, Any], cluster_name: str, cluster_id: str | None, region: str | None
) -> ClusterEndpoint:
    """The endpoint and CA in a DescribeCluster answer's ``cluster``, if it is ACTIVE and
    usable; otherwise the ``ClusterNotFound`` error saying why."""
    status = str(cluster.get("status") or "UNKNOWN")
    if status != "ACTIVE":
        raise EKSAuthError(
            EKSAuthErrorKind.ClusterNotFound,
            f"EKS cluster {cluster_name!r} is {status}, not ACTIVE; register it once it is ACTIVE",
            cluster_id=cluster_id,
        )
    endpoint = cluster.get("endpoint")
    ca_b64 = (cluster.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca_b64:
        raise EKSAuthError(
            EKSAuthErrorKind.ClusterNotFound,
            f"EKS cluster {cluster_name!r} has no endpoint or certificate authority yet",
            cluster_id=cluster_id,
        )
    try:
        ca_data = base64.b64decode(ca_b64, validate=False)
    except (binascii.Error, ValueError):
        raise EKSAuthError(
            EKSAuthErrorKind.ClusterNotFound,
            f"EKS cluster {cluster_name!r} returned a certificate authority that is not base64",
            cluster_id=cluster_id,
        ) from None
    return ClusterEndpoint(
        endpoint=str(endpoint),
        ca_data=ca_data,
        status=status,
        arn=cluster.get("arn"),
        name=cluster_name,
        region=region,
    )

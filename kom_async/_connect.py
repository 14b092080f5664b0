"""Connect what admission allowed: DescribeCluster (when it must answer) → TLS → token source →
provider (first token) → ApiClient → ``Cluster``.

The registry (``clusters.py``) decides (``config.admission``), this module follows, and the
registry keeps the result's name and lifetime. Everything made for a cluster is closed again
if any step fails.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Literal, Required, TypedDict

import anyio
from kubernetes_asyncio.client import Configuration

from kom_async.auth.clock import Clock
from kom_async.auth.exec import ExecTokenSource
from kom_async.auth.provider import TokenProvider
from kom_async.auth.refresh import start_refresh_task
from kom_async.auth.shared import SharedTokenSource, SharedTokenStore, token_key
from kom_async.auth.static import FileTokenSource, StaticTokenSource
from kom_async.auth.timing import RefreshPolicy
from kom_async.auth.token import TokenSource
from kom_async.auth.turns import LoopTurns
from kom_async.auth.wakeups import Wakeups
from kom_async.config.admission import Admission
from kom_async.config.kubeconfig import KubeconfigSelection
from kom_async.config.limits import Limits, limits_for
from kom_async.config.tls import TLSSettings, tls_settings_for
from kom_async.config.urls import redact_url
from kom_async.connection import Cluster
from kom_async.errors import EKSAuthError, EKSAuthErrorKind
from kom_async.kubectl import Kubectl
from kom_async.transport.apiclient import KomApiClient
from kom_async.transport.authflow import TokenAuth
from kom_async.transport.pool import HTTPPool, PoolLimits
from kom_async.transport.retry import RetryPolicy

if TYPE_CHECKING:
    from kom_async.auth.eks.aws import AWSClientPool, ClusterEndpoint
    from kom_async.config.eks import EKSAuthConfig

log = logging.getLogger("kom_async")

TokenSourceChoice = Literal["auto", "native", "exec"]

#: seconds (of the registry's clock) a DescribeCluster answer is reused before it is asked again
DESCRIBE_TTL = 300.0
#: DescribeCluster answers freed per loop turn when the registry closes
_FREE_SLICE = 500


class ConnectOptions(TypedDict, total=False):
    """The keyword options of ``Connector.connect``, as the registry passes them along."""

    token_source: Required[TokenSourceChoice]
    exec_timeout: Required[float]
    verify: bool
    source: TokenSource | None
    limits: Limits | None


class Connector:
    """Builds connections with the registry's clock, policies and shared AWS client pool."""

    def __init__(
        self,
        *,
        clock: Clock,
        refresh_policy: RefreshPolicy,
        retry_policy: RetryPolicy | None,
        limits: Limits | None = None,
        token_store: SharedTokenStore | None = None,
        pool_limits: PoolLimits | None = None,
    ) -> None:
        self._clock = clock
        self._pool_limits = pool_limits
        self._http: HTTPPool | None = None
        #: CPU-heavy steps of registrations and refreshes, spread over loop iterations
        self.turns = LoopTurns()
        #: the one timer of this registry's refresh loops (made on first use)
        self._wakeups: Wakeups | None = None
        self._limits = limits  # None: by trust (TRUSTED_LIMITS or UNTRUSTED_LIMITS)
        self._token_store = token_store
        self._refresh_policy = refresh_policy
        self._retry_policy = retry_policy
        self._aws_pool: AWSClientPool | None = None
        #: DescribeCluster answers per (identity, cluster name) and when they go stale (the
        #: clock's seconds): untrusted servers checked once, a vanished cluster not served for long
        self._endpoints: dict[Hashable, tuple[float, ClusterEndpoint]] = {}

    def pool(self) -> AWSClientPool:
        """The AWS client pool shared by this registry's EKS clusters (made on first use)."""
        if self._aws_pool is None:
            from kom_async.auth.eks.aws import AWSClientPool

            self._aws_pool = AWSClientPool()
        return self._aws_pool

    def wakeups(self) -> Wakeups:
        """The timer every refresh loop of this registry sleeps on (made on first use)."""
        if self._wakeups is None:
            self._wakeups = Wakeups(self._clock)
        return self._wakeups

    def http(self) -> HTTPPool:
        """The connection pool shared by this registry's clusters (made on first use)."""
        if self._http is None:
            self._http = HTTPPool(self._pool_limits, turns=self.turns)
        return self._http

    async def aclose(self) -> None:
        """Close the shared AWS clients and connection pool; a later connection makes new ones."""
        pool, self._aws_pool = self._aws_pool, None
        http, self._http = self._http, None
        wakeups, self._wakeups = self._wakeups, None
        endpoints, self._endpoints = self._endpoints, {}
        while endpoints:  # a slice per loop turn: 10,000 answers freed at once stall it ~25 ms
            for key in list(itertools.islice(endpoints, _FREE_SLICE)):
                del endpoints[key]
            await asyncio.sleep(0)
        if wakeups is not None:
            await wakeups.aclose()
        if http is not None:
            await http.aclose()
        if pool is not None:
            await pool.aclose()

    @contextlib.asynccontextmanager
    async def described(self, config: EKSAuthConfig, cid: str) -> AsyncIterator[ClusterEndpoint]:
        """DescribeCluster for ``config`` (cached per identity and name), holding the AWS
        identity meanwhile, so the token source made inside reuses it instead of rebuilding it;
        if nothing else takes it, it is closed on exit."""
        from kom_async.auth.eks.aws import describe_with
        from kom_async.auth.eks.native import lease_identity

        pool = self.pool()
        ctx = await lease_identity(pool, config, cid)
        try:
            endpoint = self.cached_endpoint(config)
            if endpoint is None:
                try:
                    await self.turns.turn()  # building and signing the call: one turn of the loop
                    endpoint = await describe_with(ctx, config.cluster_name, cluster_id=cid)
                except EKSAuthError as exc:
                    self.record_described(config, exc)
                    raise
                self.record_described(config, endpoint)
            yield endpoint
        finally:
            await pool.release(ctx)

    def cached_endpoint(self, config: EKSAuthConfig) -> ClusterEndpoint | None:
        """The cached DescribeCluster answer for ``config``, unless it has gone stale."""
        key = _endpoint_key(config)
        entry = self._endpoints.get(key)
        if entry is None:
            return None
        stale_at, endpoint = entry
        if self._clock.time() >= stale_at:
            del self._endpoints[key]
            return None
        return endpoint

    def record_described(self, config: EKSAuthConfig, answer: ClusterEndpoint | EKSAuthError) -> None:
        """The one place DescribeCluster answers enter the cache: an ACTIVE endpoint is kept
        for ``DESCRIBE_TTL`` seconds; ClusterNotFound (deleted, DELETING, not ACTIVE, no longer
        listed) drops it, so a gone cluster is never registered again from it. Other failures
        (network, throttling) leave it as it is."""
        if isinstance(answer, EKSAuthError):
            if answer.kind is EKSAuthErrorKind.ClusterNotFound:
                self.forget_described(config)
            return
        self._endpoints[_endpoint_key(config)] = (self._clock.time() + DESCRIBE_TTL, answer)

    def forget_described(self, config: EKSAuthConfig) -> None:
        """Drop the cached answer for ``config`` (its cluster was unregistered or is gone)."""
        self._endpoints.pop(_endpoint_key(config), None)

    def token_source(
        self,
        selection: KubeconfigSelection,
        cid: str,
        eks_config: EKSAuthConfig | None,
        token_source: TokenSourceChoice,
        exec_timeout: float,
    ) -> TokenSource | None:
        """The source of this user's tokens: native EKS, exec plugin, static, file, or none."""
        auth = selection.auth
        if eks_config is not None and token_source != "exec":
            from kom_async.auth.eks.native import NativeEKSTokenSource, native_unsupported_reason

            reason = native_unsupported_reason(eks_config)
            if reason is None:
                log.info("cluster %s: EKS tokens minted natively", cid, extra={"cluster": cid})
                return NativeEKSTokenSource(eks_config, pool=self.pool(), clock=self._clock, cluster_id=cid)
            if token_source == "native":
                raise EKSAuthError(
                    EKSAuthErrorKind.InvalidKubeconfig,
                    f"the native token source cannot serve this kubeconfig: {reason}",
                    cluster_id=cid,
                )
            log.info(
                "cluster %s: using the exec plugin, the native source cannot: %s",
                cid,
                reason,
                extra={"cluster": cid},
            )
        if auth.exec is not None:
            return ExecTokenSource(
                auth.exec,
                cluster_info=_cluster_info(selection),
                timeout=exec_timeout,
                eks=eks_config is not None,
                cluster_id=cid,
                clock=self._clock,
            )
        if auth.kind == "token" and auth.token is not None:
            return StaticTokenSource(auth.token)
        if auth.kind == "token-file" and auth.token_file is not None:
            return FileTokenSource(auth.token_file, allowed_dirs=auth.token_file_dirs)
        return None

    def _shared(
        self, source: TokenSource | None, selection: KubeconfigSelection, eks_config: EKSAuthConfig | None
    ) -> TokenSource | None:
        """``source`` behind the host's shared token store, when the registry has one and the
        tokens come from an exec plugin or are minted for EKS (static tokens need no sharing)."""
        store = self._token_store
        if store is None or source is None or source.kind not in ("exec", "eks-native"):
            return source
        if source.kind == "eks-native" and eks_config is not None:
            c = eks_config
            material: dict[str, object] = {
                "cluster": c.cluster_name,
                "cluster_id_flag": c.cluster_id_flag,
                "region": c.region or c.server_region,
                "profile": c.profile,
                "profile_from_env": c.profile_from_env,
                "role_arn": c.role_arn,
                "external_id": c.external_id,
                "env": dict(c.env),
            }
            environ = {**os.environ, **c.env}
        else:
            plugin = selection.auth.exec
            if plugin is None:
                return source
            material = {
                "server": selection.server,
                "command": plugin.command,
                "args": list(plugin.args),
                "env": dict(plugin.env),
                "api_version": plugin.api_version,
                "cluster": _cluster_info(selection) if plugin.provide_cluster_info else None,
            }
            environ = {**os.environ, **plugin.env}
        key = token_key(source.kind, material, environ)
        return SharedTokenSource(source, store, key, clock=self._clock)

    def _diagnosis(
        self, eks_config: EKSAuthConfig | None, cid: str
    ) -> Callable[[], Awaitable[EKSAuthError]] | None:
        """For an EKS user served by its exec plugin (``token_source="exec"``), the credential
        diagnosis of the native source with the same settings; None otherwise."""
        if eks_config is None:
            return None
        from kom_async.auth.eks.native import NativeEKSTokenSource, native_unsupported_reason

        if native_unsupported_reason(eks_config) is not None:
            return None  # the plugin does something the native source cannot: it would check other keys
        return NativeEKSTokenSource(eks_config, pool=self.pool(), clock=self._clock, cluster_id=cid).diagnose

    def token_file_source(self, selection: KubeconfigSelection, *, recheck: float) -> FileTokenSource:
        """The selection's token file, looked at again every ``recheck`` seconds (in-cluster)."""
        if selection.auth.token_file is None:
            raise ValueError("the selection has no token file")
        return FileTokenSource(selection.auth.token_file, recheck=recheck, clock=self._clock)

    async def connect(
        self,
        admission: Admission,
        *,
        token_source: TokenSourceChoice,
        exec_timeout: float,
        verify: bool = False,
        source: TokenSource | None = None,
        limits: Limits | None = None,
    ) -> Cluster:
        """Connect what ``admission`` allows. When DescribeCluster must answer first (a cluster
        named by ``register_eks``, or an untrusted EKS server to confirm), it does so before
        any token is minted, let alone sent."""
        async with contextlib.AsyncExitStack() as stack:
            selection = admission.selection
            if admission.needs_describe:
                assert admission.eks is not None
                try:
                    endpoint = await stack.enter_async_context(
                        self.described(admission.eks, admission.cluster_id)
                    )
                except EKSAuthError as exc:
                    error = admission.describe_failed(exc)
                    if error is exc:
                        raise
                    raise error from None
                selection = admission.described(endpoint.endpoint, endpoint.ca_data)
            assert selection is not None
            await self.turns.turn()  # TLS set-up and the token source: one turn of the loop
            tls = tls_settings_for(selection)  # before a plugin is started: nothing to close
            self.http().context(tls)  # made now: a CA or client certificate that does not load fails here
            if source is None:
                source = self.token_source(
                    selection, admission.cluster_id, admission.eks, token_source, exec_timeout
                )
                source = self._shared(source, selection, admission.eks)
            return await self._connect(
                selection,
                admission,
                source,
                tls,
                verify=verify,
                limits=limits_for(admission.trusted, limits or self._limits),
            )

    async def _connect(
        self,
        selection: KubeconfigSelection,
        admission: Admission,
        source: TokenSource | None,
        tls: TLSSettings,
        *,
        verify: bool,
        limits: Limits,
    ) -> Cluster:
        """Create provider, first token, API client and refresh task — or nothing (what was
        made is closed again). ``verify``: also check the credentials with AWS (EKS native)
        and make one request."""
        cid, eks_config = admission.cluster_id, admission.eks
        provider: TokenProvider | None = None
        api_client: KomApiClient | None = None
        refresh_task: asyncio.Task[None] | None = None
        try:
            if source is not None:
                region = (eks_config.region or eks_config.server_region) if eks_config else None
                provider = TokenProvider(
                    source,
                    name=cid,
                    policy=self._refresh_policy,
                    clock=self._clock,
                    is_eks=eks_config is not None,
                    region=region,
                )
                await self.turns.turn()  # the first token (an EKS token is signed in-process)
                token = await provider.get_token()  # fail registration, not the first request
                if token.expires_at is not None:
                    refresh_task = start_refresh_task(
                        provider, cluster_id=cid, clock=self._clock, turns=self.turns, wakeups=self.wakeups()
                    )
            await self.turns.turn()  # the API client
            auth = None
            if provider is not None:
                diagnose = self._diagnosis(eks_config, cid)
                auth = TokenAuth(provider, cluster_id=cid, is_eks=eks_config is not None, diagnose=diagnose)
            # untrusted: a redirect is refused
            api_client = self._api_client(selection, tls, auth, admission.trusted, limits)
            if verify:
                await _verify(api_client, source)
            return Cluster(
                id=cid,
                server=redact_url(selection.server),
                auth_kind=selection.auth.kind,
                kubectl=Kubectl(api_client, cluster_id=cid),
                api_client=api_client,
                token_provider=provider,
                eks=eks_config,
                refresh_task=refresh_task,
                context=selection.context_name,
                namespace=selection.namespace,
            )
        except BaseException:
            await _close_made(refresh_task, provider, source, api_client)
            raise

    def _api_client(
        self,
        selection: KubeconfigSelection,
        tls: TLSSettings,
        auth: TokenAuth | None,
        follow_redirects: bool,
        limits: Limits,
    ) -> KomApiClient:
        """The API client of ``selection``: its server, proxy and TLS, ``auth`` on every
        request (or basic auth), the registry's retries, and ``limits`` on what it reads."""
        configuration = Configuration(host=selection.server)
        configuration.proxy = selection.proxy_url
        configuration.tls_server_name = selection.tls_server_name
        configuration.verify_ssl = not selection.insecure_skip_tls_verify
        user = selection.auth
        return KomApiClient(
            configuration,
            pool=self.http(),
            tls=tls,
            auth=auth,
            basic_auth=(user.username or "", user.password or "") if user.kind == "basic" else None,
            retry_policy=self._retry_policy,
            follow_redirects=follow_redirects,
            limits=limits,
        )


async def _close_made(
    refresh_task: asyncio.Task[None] | None,
    provider: TokenProvider | None,
    source: TokenSource | None,
    api_client: KomApiClient | None,
) -> None:
    """Close what a failed connection made. Shielded: when a timeout or cancellation ends the
    registration, all of it is still closed completely before the error leaves."""
    with anyio.CancelScope(shield=True):
        if refresh_task is not None:
            refresh_task.cancel()
            await asyncio.gather(refresh_task, return_exceptions=True)
        if provider is not None:
            await provider.aclose()
        elif source is not None:
            await source.aclose()
        if api_client is not None:
            await api_client.close()


async def _verify(api_client: KomApiClient, source: TokenSource | None) -> None:
    """Check the credentials with AWS (EKS native sources) and that the cluster accepts them."""
    from kubernetes_asyncio.client.exceptions import ApiException

    from kom_async.transport.rest import Target, error_from_status

    check = getattr(source, "verify_credentials", None)
    if check is not None:
        await check()  # InvalidCredentials before the cluster sees a token
    try:
        await api_client.call_api("/api", "GET", auth_settings=["BearerToken"], _preload_content=True)
    except ApiException as exc:
        if exc.status == 403:
            return  # authenticated; what RBAC allows is another question
        raise error_from_status(exc.status or 0, exc.body, Target()) from None


def _endpoint_key(c: EKSAuthConfig) -> Hashable:
    """What makes two DescribeCluster calls the same: the cluster name and the AWS identity."""
    identity: dict[str, object] = dict(c.aws_identity)
    identity["env"] = tuple(sorted(c.env.items()))
    return (c.cluster_name, tuple(identity.items()))


def _cluster_info(selection: KubeconfigSelection) -> dict[str, object]:
    """The cluster entry an exec plugin sees (provideClusterInfo), with the CA the loader already
    read (and checked) as data: the plugin's input never makes us open another file."""
    info = dict(selection.cluster_info)
    if selection.ca_data is not None:
        info.pop("certificate-authority", None)
        info["certificate-authority-data"] = base64.b64encode(selection.ca_data).decode()
    return info

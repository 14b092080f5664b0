"""The registry: register clusters from kubeconfigs or EKS names, look them up, close them.

A registration is one pass down: load the kubeconfig → admit it (``config.admission``: every
rule, before any I/O) → connect (``_connect.py``) → keep the ``Cluster`` (``connection.py``)
under its id. The registry orchestrates; the steps never call back up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import anyio

from kom_async._connect import ConnectOptions, Connector, TokenSourceChoice
from kom_async._fleet import Fleet, check_discovery
from kom_async._flights import Flights
from kom_async._options import (
    RegisterOptions,
    check_eks_by_name,
    check_optional_str,
    check_options,
    check_register_options,
)
from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.shared import SharedTokenStore
from kom_async.auth.timing import RefreshPolicy
from kom_async.config.admission import Admission, admit, admit_eks_by_name
from kom_async.config.eks import EKSAuthConfig
from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.config.limits import Limits, limits_for
from kom_async.config.policy import TRUSTED, ExecPolicy, TrustChoice, trust_policy
from kom_async.connection import Cluster
from kom_async.errors import (
    ClusterExistsError,
    ClusterNotFound,
    InvalidArgument,
    RegistryClosed,
)
from kom_async.kubectl import Kubectl
from kom_async.transport.pool import PoolLimits
from kom_async.transport.retry import DEFAULT_RETRY_POLICY, RetryPolicy

if TYPE_CHECKING:
    from kom_async.auth.eks.discovery import DiscoveredCluster, DiscoveryResult

__all__ = ["Cluster", "Clusters", "RegisterOptions", "TokenSourceChoice"]

log = logging.getLogger("kom_async")

T = TypeVar("T")
_CLOSE_BATCH = 32  # clusters closed together by aclose()


class Clusters:
    """A registry of clusters, each reachable through a ``Kubectl``; use ``async with``.

    ``trust`` says whose kubeconfigs these are (default ``"trusted"``: the operator's own,
    kubectl behaviour; ``"untrusted"`` or a ``TrustPolicy``: users' kubeconfigs, see
    ``TrustPolicy``); every ``register_*`` can override it. ``exec_policy`` restricts which
    exec plugins kubeconfigs may run (untrusted ones get the default ``ExecPolicy()``);
    ``retry_policy`` bounds the retries of idempotent reads (``None``: no retries);
    ``limits`` bounds what every cluster's server may send (default ``TRUSTED_LIMITS`` for
    trusted kubeconfigs, ``UNTRUSTED_LIMITS`` otherwise; ``register_*(limits=...)`` per cluster);
    ``clock`` and ``refresh_policy`` are injectable for tests and simulations.
    ``token_store`` (a directory or a ``SharedTokenStore``; off by default) shares exec-plugin
    and EKS tokens with the host's other processes that use the same store, so W worker
    processes run each plugin once per token lifetime, not W times.
    ``pool_limits`` bounds the connections all clusters share (``PoolLimits``: a total cap,
    idle ones kept and for how long, SSL contexts kept).
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        refresh_policy: RefreshPolicy | None = None,
        exec_policy: ExecPolicy | None = None,
        retry_policy: RetryPolicy | None = DEFAULT_RETRY_POLICY,
        trust: TrustChoice | None = None,
        limits: Limits | None = None,
        token_store: SharedTokenStore | str | os.PathLike[str] | None = None,
        pool_limits: PoolLimits | None = None,
    ) -> None:
        self._clusters: dict[str, Cluster] = {}
        self._pending: set[str] = set()
        self._exec_policy = exec_policy
        self._trust = trust_policy(trust, TRUSTED)
        self._flights = Flights()
        self._connector = Connector(
            clock=clock or system_clock,
            refresh_policy=refresh_policy or RefreshPolicy(),
            retry_policy=retry_policy,
            limits=limits_for(True, limits) if limits is not None else None,
            token_store=token_store
            if token_store is None or isinstance(token_store, SharedTokenStore)
            else SharedTokenStore(token_store),
            pool_limits=pool_limits,
        )
        self._fleet = Fleet(self._connector)

    def __repr__(self) -> str:
        return f"Clusters({sorted(self._clusters)!r})"

    async def __aenter__(self) -> Clusters:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- lookups -------------------------------------------------------------------------
    def get(self, cluster_id: str) -> Cluster:
        """The cluster registered as ``cluster_id``; ``ClusterNotFound`` if there is none."""
        try:
            return self._clusters[cluster_id]
        except KeyError:
            raise ClusterNotFound(cluster_id, list(self._clusters)) from None

    __getitem__ = get

    def __contains__(self, cluster_id: object) -> bool:
        return cluster_id in self._clusters

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._clusters))

    def __len__(self) -> int:
        return len(self._clusters)

    def values(self) -> list[Cluster]:
        """The registered clusters, in registration order."""
        return list(self._clusters.values())

    @property
    def default(self) -> Cluster:
        """The earliest-registered cluster still present (kom's ``DefaultCluster()``)."""
        for cluster in self._clusters.values():
            return cluster
        raise ClusterNotFound("<default>", [])

    # -- registration --------------------------------------------------------------------
    async def register_by_string(
        self,
        kubeconfig: str | bytes | Mapping[str, Any],
        cluster_id: str | None = None,
        context: str | None = None,
        **options: Unpack[RegisterOptions],
    ) -> Kubectl:
        """Register the cluster of ``context`` (default: current-context) in a kubeconfig text.

        EKS exec users (``aws eks get-token``, ``aws-iam-authenticator``) are detected and
        served by the native token source unless ``token_source="exec"``. Options: see
        :class:`RegisterOptions` (``trust`` overrides the registry's trust level).
        """
        return await self._register_kubeconfig(kubeconfig, cluster_id, context, options, require_eks=False)

    async def register_by_path(
        self,
        path: str | os.PathLike[str],
        cluster_id: str | None = None,
        context: str | None = None,
        **options: Unpack[RegisterOptions],
    ) -> Kubectl:
        """Like ``register_by_string`` for a kubeconfig file (relative paths resolve beside it)."""
        return await self._register_kubeconfig(Path(path), cluster_id, context, options, require_eks=False)

    async def register_eks_by_string(
        self,
        kubeconfig: str | bytes | Mapping[str, Any],
        cluster_id: str | None = None,
        context: str | None = None,
        **options: Unpack[RegisterOptions],
    ) -> Kubectl:
        """Register an EKS kubeconfig; anything else is refused (``InvalidKubeconfig``)."""
        return await self._register_kubeconfig(kubeconfig, cluster_id, context, options, require_eks=True)

    async def register_eks_by_path(
        self,
        path: str | os.PathLike[str],
        cluster_id: str | None = None,
        context: str | None = None,
        **options: Unpack[RegisterOptions],
    ) -> Kubectl:
        """Like ``register_eks_by_string`` for a kubeconfig file."""
        return await self._register_kubeconfig(Path(path), cluster_id, context, options, require_eks=True)

    async def register_eks(
        self,
        cluster_name: str,
        region: str,
        profile: str | None = None,
        role_arn: str | None = None,
        cluster_id: str | None = None,
        *,
        replace: bool = False,
        exec_timeout: float = 30.0,
        token_source: TokenSourceChoice = "auto",
        env: Mapping[str, str] | None = None,
        verify: bool = False,
        trust: TrustChoice | None = None,
    ) -> Kubectl:
        """Register an EKS cluster by name: DescribeCluster gives endpoint and CA, tokens are
        minted natively. No kubeconfig needed. Default id: ``<region>-<cluster_name>``.
        Untrusted (``trust``), ``env`` may only hold the policy's allowed names.

        ``verify=True`` (on every ``register_*``) checks before returning that AWS accepts
        the credentials (STS GetCallerIdentity) and the cluster accepts the token (one request).
        """
        check_options(replace, exec_timeout, token_source, cluster_id=cluster_id)
        check_eks_by_name(cluster_name, region, profile, role_arn, env, token_source)
        config = EKSAuthConfig(cluster_name, region, profile, role_arn, None, env=dict(env or {}))
        admission = admit_eks_by_name(config, cluster_id=cluster_id, trust=trust_policy(trust, self._trust))
        return await self._register(
            admission, replace, token_source="native", exec_timeout=exec_timeout, verify=verify
        )

    async def register_default(
        self,
        cluster_id: str | None = None,
        context: str | None = None,
        *,
        replace: bool = False,
        exec_timeout: float = 30.0,
        token_source: TokenSourceChoice = "auto",
        exec_policy: ExecPolicy | None = None,
        verify: bool = False,
    ) -> Kubectl:
        """Register the cluster kubectl would use: ``$KUBECONFIG`` (merged as kubectl merges
        its files) or ``~/.kube/config``, at ``context`` or the current context (trusted: the
        operator's own configuration)."""
        from kom_async.config.defaults import default_kubeconfig_paths, merge_kubeconfigs

        options = RegisterOptions(
            replace=replace,
            exec_timeout=exec_timeout,
            token_source=token_source,
            exec_policy=exec_policy,
            verify=verify,
            trust=TRUSTED,
        )
        check_register_options(options, cluster_id, context)
        paths = default_kubeconfig_paths()
        merged = merge_kubeconfigs(paths)
        return await self._register_kubeconfig(
            merged, cluster_id, context, options, require_eks=False, base_dir=paths[0].parent
        )

    async def register_in_cluster(
        self,
        cluster_id: str | None = None,
        *,
        replace: bool = False,
        verify: bool = False,
        token_path: str | os.PathLike[str] | None = None,
        ca_path: str | os.PathLike[str] | None = None,
        namespace_path: str | os.PathLike[str] | None = None,
        recheck: float = 60.0,
    ) -> Kubectl:
        """Register the cluster this pod runs in with its service account (default id
        ``"in-cluster"``): the token file is looked at every ``recheck`` seconds and re-read
        when kubelet rotated it; ``cluster.namespace`` is the pod's namespace. The paths
        default to the mounted service account."""
        from kom_async.config.incluster import in_cluster_selection

        cid = cluster_id or "in-cluster"
        check_optional_str(cluster_id=cid)
        selection = in_cluster_selection(
            cid, token_path=token_path, ca_path=ca_path, namespace_path=namespace_path
        )
        admission = admit(selection, cluster_id=cid, trust=TRUSTED, exec_policy=None)
        source = self._connector.token_file_source(selection, recheck=recheck)
        return await self._register(
            admission, replace, token_source="auto", exec_timeout=30.0, verify=verify, source=source
        )

    async def discover_eks(
        self,
        regions: Sequence[str],
        *,
        role_arns: Sequence[str] = (),
        profiles: Sequence[str] = (),
        name_filter: str | None = None,
        tags: Mapping[str, str] | None = None,
        cluster_id: Callable[[DiscoveredCluster], str] | None = None,
        prune: bool = False,
        concurrency: int = 16,
        env: Mapping[str, str] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> DiscoveryResult:
        """Find the EKS clusters of every account (a role to assume, a profile, or the default
        identity) in every region and register each ACTIVE one by name: ListClusters (every
        page) and DescribeCluster, at most ``concurrency`` AWS calls at once, throttling
        retried (``retry_policy``, default 6 tries from 0.5 s up to 8 s apart). A failing
        (account, region) is reported in the result, never raised. Ids default to
        ``<account>-<region>-<name>``. Run it again to reconcile: new clusters are
        registered, registered ones left alone, and with ``prune=True`` the clusters an earlier
        run registered that are gone, no longer ACTIVE or no longer match are unregistered
        (never those of a pair that failed, never clusters registered otherwise).
        """
        from kom_async._fleet import DISCOVERY_RETRY_POLICY, default_cluster_id
        from kom_async.auth.eks.discovery import Scanner

        sources = check_discovery(
            regions, role_arns, profiles, name_filter, tags, cluster_id, concurrency, env
        )
        self._trust.check_env(env or {}, what="discover_eks env")
        if self._flights.closed:
            raise RegistryClosed("this Clusters registry is closed; discover clusters in a new one")

        async def register(config: EKSAuthConfig, cid: str) -> Cluster:
            admission = admit_eks_by_name(config, cluster_id=cid, trust=TRUSTED)  # env checked above
            await self._register(admission, False, token_source="native", exec_timeout=30.0)
            return self._clusters[cid]

        async with contextlib.AsyncExitStack() as stack:  # identities stay leased until registered
            scanner = Scanner(
                pool=self._connector.pool(),
                stack=stack,
                env=dict(env or {}),
                limiter=anyio.CapacityLimiter(concurrency),
                backoff=retry_policy or DISCOVERY_RETRY_POLICY,
                name_filter=name_filter,
                tags=dict(tags or {}),
            )
            scans = await scanner.scan(sources, list(regions))
            return await self._fleet.reconcile(
                scans,
                env=scanner.env,
                cluster_id=cluster_id or default_cluster_id,
                register=register,
                unregister=self.unregister,
                lookup=self._clusters.get,
                prune=prune,
            )

    # -- removal -------------------------------------------------------------------------
    async def unregister(self, cluster_id: str) -> None:
        """Remove a cluster: cancel and await its refresh task and close its client."""
        cluster = self._clusters.pop(cluster_id, None)
        if cluster is None:
            raise ClusterNotFound(cluster_id, list(self._clusters))
        if cluster.eks is not None:  # registered again later, it is described again
            self._connector.forget_described(cluster.eks)
        self._fleet.owned.pop(cluster_id, None)
        await cluster.aclose()
        log.info("cluster %s unregistered", cluster_id, extra={"cluster": cluster_id})

    async def aclose(self) -> None:
        """Close every cluster and the shared AWS clients. Registrations still in flight are
        cancelled (they raise ``RegistryClosed`` and leave nothing behind); later ones are
        refused with ``RegistryClosed``. Idempotent."""
        await self._flights.close()
        clusters = list(self._clusters.values())
        self._clusters.clear()
        errors: list[BaseException | None] = []
        while clusters:  # a few per loop turn, each batch freed before the next: no long stall
            batch, clusters[:_CLOSE_BATCH] = clusters[:_CLOSE_BATCH], []
            errors += await asyncio.gather(*(c.aclose() for c in batch), return_exceptions=True)
            del batch
        await self._connector.aclose()
        for err in errors:
            if isinstance(err, BaseException) and not isinstance(err, asyncio.CancelledError):
                log.warning("error while closing a cluster: %s", err)

    # -- many clusters at once -----------------------------------------------------------
    async def gather(
        self,
        fn: Callable[[Kubectl], Awaitable[T]],
        *,
        ids: list[str] | None = None,
        concurrency: int = 32,
        timeout: float | None = None,
    ) -> dict[str, T | BaseException]:
        """Run ``fn(kubectl)`` on many clusters at once: ``{cluster_id: result or exception}``.

        One slow or broken cluster never blocks or fails the others: each call gets its own
        ``timeout`` (a ``TimeoutError`` in the result) and at most ``concurrency`` run at once,
        in as many tasks: not one task per cluster, whose thousands of small objects, made
        together and freed together, would leave the allocator's memory scattered after a fan-out
        over 10,000 clusters. Calls one task makes share its context: a ``fn`` that sets a
        contextvar should reset it.
        """
        if concurrency < 1:
            raise InvalidArgument("concurrency must be at least 1")
        targets = [self.get(i) for i in ids] if ids is not None else list(self._clusters.values())
        results: dict[str, T | BaseException] = {}
        waiting = iter(targets)  # shared: each cluster is taken by one worker

        async def worker() -> None:
            for cluster in waiting:
                try:
                    with anyio.fail_after(timeout):
                        results[cluster.id] = await fn(cluster.kubectl)
                except TimeoutError:
                    results[cluster.id] = TimeoutError(
                        f"cluster {cluster.id!r} did not answer within {timeout:g} s"
                    )
                except Exception as exc:
                    results[cluster.id] = exc

        # the task group owns every call: leaving gather (even by cancellation) ends them all
        async with anyio.create_task_group() as group:
            for i in range(min(concurrency, len(targets))):
                group.start_soon(worker, name=f"kom-async:gather:{i}")
        return {c.id: results[c.id] for c in targets}

    # -- internals -----------------------------------------------------------------------
    def _reserve(self, cluster_id: str, replace: bool) -> None:
        if cluster_id in self._pending or (cluster_id in self._clusters and not replace):
            raise ClusterExistsError(cluster_id)
        self._pending.add(cluster_id)

    async def _register_kubeconfig(
        self,
        kubeconfig: str | bytes | Mapping[str, Any] | Path,
        cluster_id: str | None,
        context: str | None,
        options: RegisterOptions,
        *,
        require_eks: bool,
        base_dir: Path | None = None,
    ) -> Kubectl:
        """The one body of every kubeconfig registration: check the options, load, admit (every
        exec, trust, EKS and name rule, before any I/O), then connect and register."""
        check_register_options(options, cluster_id, context)
        trust = trust_policy(options.get("trust"), self._trust)
        limits = options.get("limits")
        limits = limits_for(trust.trusted, limits) if limits is not None else None  # its type, now
        await self._connector.turns.turn()  # parsing: one turn of the loop
        selection = load_kubeconfig(
            kubeconfig, context=context, allowed_dirs=trust.file_dirs, base_dir=base_dir
        )
        admission = admit(
            selection,
            cluster_id=cluster_id,
            trust=trust,
            exec_policy=options.get("exec_policy") or self._exec_policy,
            require_eks=require_eks,
        )
        return await self._register(
            admission,
            options.get("replace", False),
            token_source=options.get("token_source", "auto"),
            exec_timeout=options.get("exec_timeout", 30.0),
            verify=options.get("verify", False),
            limits=limits,
        )

    async def _register(
        self, admission: Admission, replace: bool, **options: Unpack[ConnectOptions]
    ) -> Kubectl:
        """Connect what ``admission`` allows and put it in the registry under its id (reserved
        meanwhile: a second registration of it is refused), so that ``aclose()`` can cancel it."""
        return await self._flights.run(self._reserved_build(admission, replace, **options))

    async def _reserved_build(
        self, admission: Admission, replace: bool, **options: Unpack[ConnectOptions]
    ) -> Kubectl:
        """``_build`` with the id reserved meanwhile (a second registration of it is refused)."""
        cid = admission.cluster_id
        self._reserve(cid, replace)
        try:
            return await self._build(admission, replace, **options)
        finally:
            self._pending.discard(cid)

    async def _build(self, admission: Admission, replace: bool, **options: Unpack[ConnectOptions]) -> Kubectl:
        """Connect the cluster, then put it in the registry (replacing its id if asked)."""
        cid = admission.cluster_id
        log.debug("cluster %s admitted: %s", cid, "; ".join(admission.reasons), extra={"cluster": cid})
        cluster = await self._connector.connect(admission, **options)
        old = self._clusters.pop(cid, None) if replace else None
        self._clusters[cid] = cluster
        if old is not None:
            await old.aclose()
        provider = cluster.token_provider
        log.info(
            "cluster %s registered (server %s, auth %s%s)",
            cid,
            cluster.server,
            cluster.auth_kind,
            f", token source {provider.source.kind}" if provider is not None else "",
            extra={"cluster": cid},
        )
        return cluster.kubectl

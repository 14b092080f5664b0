"""What fleet discovery registered, and how one run's answers become registrations and removals.

``Clusters.discover_eks`` scans (``auth/eks/discovery.py``), then ``Fleet.reconcile`` registers
each new ACTIVE cluster from DescribeCluster's answer (seeded into the registry's cache, so no
second DescribeCluster), leaves registered ones alone and, when asked, unregisters the clusters
discovery itself registered that are gone. A pair that failed prunes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kom_async._connect import Connector
from kom_async._options import check_optional_str
from kom_async.config.admission import check_name
from kom_async.connection import Cluster
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, InvalidArgument, KomError
from kom_async.transport.retry import RetryPolicy

if TYPE_CHECKING:
    from kom_async.auth.eks.discovery import DiscoveredCluster, DiscoveryResult, RegionScan, Source
    from kom_async.config.eks import EKSAuthConfig

ClusterIdFn = Callable[["DiscoveredCluster"], str]

#: discovery's default for throttled calls: 6 tries, waits from 0.5 s doubling up to 8 s (jittered)
DISCOVERY_RETRY_POLICY = RetryPolicy(attempts=6, backoff_base=0.5, backoff_cap=8.0)


def default_cluster_id(found: DiscoveredCluster) -> str:
    """``<account>-<region>-<name>``: unique across an organisation's accounts and regions."""
    return f"{found.account}-{found.region}-{found.name}"


def check_discovery(
    regions: object,
    role_arns: object,
    profiles: object,
    name_filter: object,
    tags: object,
    cluster_id: object,
    concurrency: object,
    env: object,
) -> list[Source]:
    """``discover_eks``'s arguments, checked before any AWS call; the identities to use."""
    from kom_async.auth.eks.discovery import Source

    for what, values in (("regions", regions), ("role_arns", role_arns), ("profiles", profiles)):
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise InvalidArgument(f"{what} must be a list of strings, e.g. {what}=[...], not {values!r:.60}")
        for value in values:
            check_name(value, f"each of {what}")
    if not regions:
        raise InvalidArgument("regions must name at least one AWS region, e.g. regions=['us-east-1']")
    check_optional_str(name_filter=name_filter)
    pairs = tags.items() if isinstance(tags, Mapping) else [(None, None)]
    if tags is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
        raise InvalidArgument("tags must map tag keys to string values, e.g. tags={'team': 'web'}")
    pairs = env.items() if isinstance(env, Mapping) else [(None, None)]
    if env is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
        raise InvalidArgument("env must map variable names to string values")
    if cluster_id is not None and not callable(cluster_id):
        raise InvalidArgument("cluster_id must be a function of the DiscoveredCluster that returns its id")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgument("concurrency must be an integer of at least 1")
    assert isinstance(role_arns, Sequence) and isinstance(profiles, Sequence)
    sources = [Source(role_arn=r) for r in role_arns] + [Source(profile=p) for p in profiles]
    return list(dict.fromkeys(sources)) or [Source()]


@dataclass
class _Owned:
    """A cluster discovery registered: where it was found and what was registered."""

    source: Source
    region: str
    name: str
    config: EKSAuthConfig
    cluster: Cluster


class Fleet:
    """The registry's record of discovered clusters (only these are ever pruned)."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self.owned: dict[str, _Owned] = {}

    async def reconcile(
        self,
        scans: list[RegionScan],
        *,
        env: Mapping[str, str],
        cluster_id: ClusterIdFn,
        register: Callable[[EKSAuthConfig, str], Awaitable[Cluster]],
        unregister: Callable[[str], Awaitable[None]],
        lookup: Callable[[str], Cluster | None],
        prune: bool,
    ) -> DiscoveryResult:
        """Register what is new, drop cached answers of what is gone, prune if asked."""
        from kom_async.auth.eks.discovery import DiscoveryResult
        from kom_async.config.eks import EKSAuthConfig

        def config_for(source: Source, region: str, name: str) -> EKSAuthConfig:
            """What ``register_eks`` would make for it (so the cache key is the same)."""
            return EKSAuthConfig(name, region, source.profile, source.role_arn, None, env=dict(env))

        result = DiscoveryResult()
        result.count(scans)
        for scan in scans:
            result.failures.extend(scan.failures)
            for name, error in scan.gone.items():
                self._connector.record_described(config_for(scan.source, scan.region, name), error)
            for found in scan.clusters:
                result.found.append(found)
                config = config_for(found.source, found.region, found.name)
                if found.endpoint is None:
                    assert found.problem is not None
                    self._connector.record_described(config, found.problem)
                    continue
                self._connector.record_described(config, found.endpoint)
                await self._register_one(found, config, scan, result, cluster_id, register, lookup)
        for cid in self._vanished(scans, lookup):
            owned = self.owned[cid]
            gone = EKSAuthError(
                EKSAuthErrorKind.ClusterNotFound,
                f"EKS cluster {owned.name!r} is no longer listed as ACTIVE in {owned.region}",
                cluster_id=cid,
            )
            self._connector.record_described(owned.config, gone)
            if prune:
                del self.owned[cid]
                await unregister(cid)
                result.unregistered.append(cid)
        return result

    async def _register_one(
        self,
        found: DiscoveredCluster,
        config: EKSAuthConfig,
        scan: RegionScan,
        result: DiscoveryResult,
        cluster_id: ClusterIdFn,
        register: Callable[[EKSAuthConfig, str], Awaitable[Cluster]],
        lookup: Callable[[str], Cluster | None],
    ) -> None:
        from kom_async.auth.eks.discovery import DiscoveryFailure

        try:
            cid = cluster_id(found)
            check_name(cid, "the cluster_id function's result")
            if lookup(cid) is not None:
                result.kept.append(cid)  # registered already (by discovery or by hand): left alone
                return
            cluster = await register(config, cid)
        except KomError as exc:
            error = (
                exc
                if isinstance(exc, EKSAuthError)
                else EKSAuthError(EKSAuthErrorKind.NetworkError, str(exc))
            )
            result.failures.append(
                DiscoveryFailure(found.source, found.account, found.region, error, found.name)
            )
            return
        self.owned[cid] = _Owned(scan.source, scan.region, found.name, config, cluster)
        result.registered.append(cid)

    def _vanished(self, scans: list[RegionScan], lookup: Callable[[str], Cluster | None]) -> list[str]:
        """Owned clusters whose pair was listed this run but are no longer found ACTIVE (a
        cluster whose DescribeCluster failed otherwise is kept: its state is unknown)."""
        listed = {(s.source, s.region): s for s in scans if s.listed is not None}
        vanished = []
        for cid, owned in list(self.owned.items()):
            if lookup(cid) is not owned.cluster:
                del self.owned[cid]  # unregistered or replaced by someone else: not ours any more
                continue
            scan = listed.get((owned.source, owned.region))
            if scan is None:
                continue  # that pair failed (or was not asked): nothing is known, nothing pruned
            active = {c.name for c in scan.clusters if c.endpoint is not None}
            unknown = {f.cluster for f in scan.failures}
            if owned.name not in active and owned.name not in unknown:
                vanished.append(cid)
        return vanished

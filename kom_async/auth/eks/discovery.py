"""Fleet discovery, the AWS side: ListClusters (every page) and DescribeCluster for every
(identity, region) pair, at most ``concurrency`` calls at once, throttling retried with the
caller's backoff, and each pair's failure kept apart from the others' answers.

The registry (``Clusters.discover_eks``) turns what this finds into registrations.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from botocore import exceptions as bexc

from kom_async.auth.eks.aws import AWSClientPool, AWSContext, ClusterEndpoint, endpoint_of, quiet_aws_logs
from kom_async.auth.eks.aws_errors import map_aws_error, scrubbed
from kom_async.auth.eks.eks_api import Backoff, call_with_backoff
from kom_async.errors import EKSAuthError, EKSAuthErrorKind

T = TypeVar("T")

#: ListClusters' largest page (the AWS maximum)
PAGE_SIZE = 100
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


@dataclass(frozen=True)
class Source:
    """One AWS identity to discover with: a role to assume, a profile, or the default one."""

    role_arn: str | None = None
    profile: str | None = None

    @property
    def account(self) -> str | None:
        """The account a role ARN names (None for a profile or the default identity)."""
        m = _ROLE_ACCOUNT.match(self.role_arn or "")
        return m.group(1) if m else None

    def __str__(self) -> str:
        if self.role_arn:
            return f"role {self.role_arn}"
        return f"profile {self.profile}" if self.profile else "the default AWS identity"


@dataclass(frozen=True)
class DiscoveredCluster:
    """A cluster ListClusters showed and DescribeCluster described: where it is, its status
    and tags, and (when ACTIVE) its endpoint and CA, which registration reuses."""

    account: str
    region: str
    name: str
    status: str
    arn: str | None
    tags: Mapping[str, str]
    source: Source
    endpoint: ClusterEndpoint | None = field(default=None, repr=False)
    #: why it cannot be registered (not ACTIVE, no endpoint yet), when it cannot
    problem: EKSAuthError | None = field(default=None, repr=False, compare=False)

    @property
    def active(self) -> bool:
        """True when it can be registered (ACTIVE, with an endpoint and a CA)."""
        return self.endpoint is not None


@dataclass(frozen=True)
class DiscoveryFailure:
    """What went wrong for one (account, region), or for one cluster in it (``cluster``)."""

    source: Source
    account: str | None
    region: str
    error: EKSAuthError
    cluster: str | None = None

    def __str__(self) -> str:
        where = f"{self.region} with {self.source}" + (f", cluster {self.cluster!r}" if self.cluster else "")
        return f"{where}: {self.error}"


@dataclass
class RegionScan:
    """One (identity, region): the names listed (None if listing failed), the clusters
    described, names gone between the two calls, failures, and the AWS calls it made."""

    source: Source
    region: str
    listed: list[str] | None = None
    clusters: list[DiscoveredCluster] = field(default_factory=list)
    gone: dict[str, EKSAuthError] = field(default_factory=dict)
    failures: list[DiscoveryFailure] = field(default_factory=list)
    list_pages: int = 0
    describes: int = 0
    account: str | None = None


@dataclass
class DiscoveryResult:
    """What one ``Clusters.discover_eks`` run found and did.

    ``found``: every cluster listed, matching the filters and described (ACTIVE or not);
    ``registered``: ids registered by this run; ``kept``: ids of found clusters already
    registered (left alone); ``unregistered``: ids this run removed (``prune=True``: clusters
    discovery had registered that are gone, no longer ACTIVE or no longer match);
    ``failures``: per (account, region), or per cluster; ``calls``: AWS calls by operation.
    """

    found: list[DiscoveredCluster] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)
    failures: list[DiscoveryFailure] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    #: how many (identity, region) pairs were asked, and how many of them failed as a whole
    pairs: int = 0
    failed_pairs: int = 0

    @property
    def complete(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    @property
    def all_failed(self) -> bool:
        """True when no (identity, region) pair could be listed at all."""
        return self.pairs > 0 and self.failed_pairs == self.pairs

    def count(self, scans: Sequence[RegionScan]) -> None:
        """Fill in the pairs asked and failed, and the AWS calls, from a run's scans."""
        self.pairs, self.failed_pairs = len(scans), sum(s.listed is None for s in scans)
        self.calls = {
            "ListClusters": sum(s.list_pages for s in scans),
            "DescribeCluster": sum(s.describes for s in scans),
        }


async def _quietly(*, aws_call: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """A botocore call with its DEBUG records (which print secrets) suppressed."""
    with quiet_aws_logs():
        return await aws_call(**kwargs)


async def list_cluster_names(
    client: Any, backoff: Backoff, scan: RegionScan, page_size: int = PAGE_SIZE
) -> list[str]:
    """Every cluster name ListClusters reports, following ``nextToken`` through every page."""
    names: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"maxResults": page_size}
        if token:
            kwargs["nextToken"] = token
        page = await call_with_backoff(backoff, _quietly, aws_call=client.list_clusters, **kwargs)
        scan.list_pages += 1
        names.extend(str(n) for n in page.get("clusters") or [])
        token = page.get("nextToken")
        if not token:
            return names


@dataclass(frozen=True)
class Scanner:
    """What every (identity, region) of one discovery run shares: the AWS client pool (whose
    identity leases ``stack`` holds until the registrations are done), the filters, the
    capacity limiter bounding AWS calls in flight, and the backoff."""

    pool: AWSClientPool
    stack: AsyncExitStack
    env: Mapping[str, str]
    limiter: anyio.CapacityLimiter
    backoff: Backoff
    name_filter: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    page_size: int = PAGE_SIZE

    async def scan(self, sources: Sequence[Source], regions: Sequence[str]) -> list[RegionScan]:
        """Scan every (source, region) pair at once; one pair's failure never stops another."""
        scans = [
            RegionScan(source, region, account=source.account) for source in sources for region in regions
        ]
        async with anyio.create_task_group() as group:
            for one in scans:
                group.start_soon(self._scan_region, one, name=f"kom-async:discover:{one.region}")
        return scans

    async def _scan_region(self, scan: RegionScan) -> None:
        try:
            async with self.limiter:
                ctx = await self._lease(scan)
                client = await ctx.eks_client(retrying=False)
                names = await list_cluster_names(client, self.backoff, scan, self.page_size)
        except Exception as exc:
            scan.failures.append(
                DiscoveryFailure(scan.source, scan.account, scan.region, _region_error(exc, scan))
            )
            return
        scan.listed = names
        wanted = [n for n in names if self.name_filter is None or fnmatch.fnmatchcase(n, self.name_filter)]
        async with anyio.create_task_group() as group:
            for name in wanted:
                group.start_soon(self._describe, ctx, scan, name)

    async def _lease(self, scan: RegionScan) -> AWSContext:
        """The identity for this pair (AssumeRole on first use), held until the run ends."""
        ctx = await self.pool.context(
            profile=scan.source.profile,
            region=scan.region,
            role_arn=scan.source.role_arn,
            env=self.env,
            cluster_id=f"discovery in {scan.region}",
            lease=True,
        )
        self.stack.push_async_callback(self.pool.release, ctx)
        return ctx

    async def _describe(self, ctx: AWSContext, scan: RegionScan, name: str) -> None:
        try:
            async with self.limiter:
                scan.describes += 1
                answer = await call_with_backoff(self.backoff, ctx.describe_cluster, name=name)
        except Exception as exc:
            error = map_aws_error(exc, action=f"DescribeCluster {name!r}", cluster_id=name)
            scrubbed(exc)
            if error.kind is EKSAuthErrorKind.ClusterNotFound:
                scan.gone[name] = error  # deleted between ListClusters and DescribeCluster
            else:
                scan.failures.append(DiscoveryFailure(scan.source, scan.account, scan.region, error, name))
            return
        found = _discovered(answer.get("cluster") or {}, scan, name)
        if self.tags and any(found.tags.get(k) != v for k, v in self.tags.items()):
            return
        scan.clusters.append(found)


def _discovered(cluster: Mapping[str, Any], scan: RegionScan, name: str) -> DiscoveredCluster:
    arn = cluster.get("arn")
    account = str(arn).split(":")[4] if arn and str(arn).count(":") >= 5 else (scan.account or "unknown")
    scan.account = scan.account or account
    endpoint: ClusterEndpoint | None = None
    problem: EKSAuthError | None = None
    try:
        endpoint = endpoint_of(cluster, name, name, scan.region)
    except EKSAuthError as exc:
        problem = exc  # not ACTIVE (CREATING, DELETING, FAILED...) or no endpoint yet
    return DiscoveredCluster(
        account=account,
        region=scan.region,
        name=name,
        status=str(cluster.get("status") or "UNKNOWN"),
        arn=str(arn) if arn else None,
        tags={str(k): str(v) for k, v in (cluster.get("tags") or {}).items()},
        source=scan.source,
        endpoint=endpoint,
        problem=problem,
    )


def _region_error(exc: Exception, scan: RegionScan) -> EKSAuthError:
    """The failure of a whole (identity, region), with a hint for an opt-in region."""
    error = map_aws_error(exc, action=f"ListClusters in {scan.region} with {scan.source}")
    scrubbed(exc)
    code = exc.response.get("Error", {}).get("Code") if isinstance(exc, bexc.ClientError) else None
    if code == "UnrecognizedClientException":
        return EKSAuthError(
            error.kind,
            f"{error}; if {scan.region} is an opt-in region, enable it for this account "
            "(AWS Account settings, Regions) or leave it out of regions=",
        )
    return error

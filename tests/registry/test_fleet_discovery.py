"""Fleet discovery against the lab: several accounts (AssumeRole into each) and regions, a
denied region, throttling, reconciling runs, and the DescribeCluster cache it feeds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import VersionApi

from kom_async import Clusters, RetryPolicy
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, InvalidArgument
from kom_async.lab import EKSLab, LabAccount

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]


class Waits:
    """A RetryPolicy sleep that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def quick_policy(waits: Waits, attempts: int = 6) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, backoff_base=0.5, backoff_cap=8.0, sleep=waits)


@pytest_asyncio.fixture
async def lab() -> AsyncIterator[EKSLab]:
    async with EKSLab() as lab:
        yield lab


async def three_accounts(lab: EKSLab) -> list[LabAccount]:
    accounts = [await lab.create_account() for _ in range(3)]
    for i, account in enumerate(accounts):
        for region in REGIONS:
            await lab.create_cluster(f"a{i}-app", region, account=account, seed=False)
    return accounts


async def test_three_accounts_by_four_regions_with_one_region_denied_registers_the_other_eleven(
    lab: EKSLab,
) -> None:
    accounts = await three_accounts(lab)
    lab.deny_aws(region="eu-west-1", account=accounts[1])
    waits = Waits()
    async with Clusters() as clusters:
        result = await clusters.discover_eks(
            REGIONS,
            role_arns=[a.role_arn for a in accounts],
            env=lab.aws_env,
            retry_policy=quick_policy(waits),
        )
        expected = {f"{a.account_id}-{r}-a{i}-app" for i, a in enumerate(accounts) for r in REGIONS}
        denied = f"{accounts[1].account_id}-eu-west-1-a1-app"
        assert sorted(result.registered) == sorted(expected - {denied}) == sorted(clusters)
        assert len(result.found) == 11 and all(f.status == "ACTIVE" for f in result.found)
        [failure] = result.failures
        assert (failure.account, failure.region, failure.cluster) == (
            accounts[1].account_id,
            "eu-west-1",
            None,
        )
        assert failure.error.kind is EKSAuthErrorKind.PermissionDenied
        assert "AccessDeniedException" in str(failure)
        assert (result.pairs, result.failed_pairs, result.all_failed) == (12, 1, False)
        assert waits.waits == []  # a denial is not retried
        # each registered cluster answers with tokens of the role in its own account
        some = clusters.get(f"{accounts[2].account_id}-ap-southeast-2-a2-app")
        assert (await VersionApi(some.api_client).get_code()).git_version
        # what it cost: one ListClusters page and one DescribeCluster per cluster, one
        # AssumeRole per (account, region), and no second DescribeCluster to register
        assert result.calls == {"ListClusters": 11, "DescribeCluster": 11}
        calls = lab.aws_requests()
        assert calls["eks"] == 12 + 11  # 12 listings (one refused) + 11 descriptions
        assert calls["sts"] == 12


async def test_an_opt_in_region_the_account_has_not_enabled_is_reported_with_what_to_do(lab: EKSLab) -> None:
    await lab.create_cluster("home", "us-east-1", seed=False)
    lab.deny_aws(region="ap-east-1", code="UnrecognizedClientException")
    async with Clusters() as clusters:
        result = await clusters.discover_eks(["us-east-1", "ap-east-1"], env=lab.aws_env)
        assert result.registered == [f"{lab.account_id}-us-east-1-home"]
        [failure] = result.failures
        assert failure.region == "ap-east-1" and failure.account is None  # default identity
        assert "UnrecognizedClientException" in str(failure) and "opt-in region" in str(failure)


async def test_throttled_calls_are_retried_with_backoff_and_discovery_succeeds(lab: EKSLab) -> None:
    for name in ("t1", "t2", "t3"):
        await lab.create_cluster(name, seed=False)
    lab.aws_throttle("eks", count=4)
    waits = Waits()
    async with Clusters() as clusters:
        result = await clusters.discover_eks([lab.region], env=lab.aws_env, retry_policy=quick_policy(waits))
        assert result.failures == []
        assert sorted(result.registered) == [f"{lab.account_id}-{lab.region}-{n}" for n in ("t1", "t2", "t3")]
        assert len(waits.waits) == 4 and all(0.25 <= w <= 8.0 for w in waits.waits)
        assert lab.aws_requests()["eks"] == 4 + 1 + 3


async def test_throttling_that_outlasts_the_retries_is_a_failure_of_that_region_only(lab: EKSLab) -> None:
    await lab.create_cluster("busy", seed=False)
    lab.aws_throttle("eks", code="TooManyRequestsException")
    waits = Waits()
    async with Clusters() as clusters:
        result = await clusters.discover_eks(
            [lab.region], env=lab.aws_env, retry_policy=quick_policy(waits, attempts=3)
        )
        [failure] = result.failures
        assert "TooManyRequestsException" in str(failure) and result.all_failed
        assert len(waits.waits) == 2 and waits.waits[1] >= 0.5  # the waits grow
        assert list(clusters) == []


async def test_running_it_again_reconciles_new_gone_and_hand_registered_clusters(lab: EKSLab) -> None:
    for name in ("keep", "doomed", "by-hand"):
        await lab.create_cluster(name, seed=False)
    prefix = f"{lab.account_id}-{lab.region}-"
    async with Clusters() as clusters:
        await clusters.register_eks("by-hand", lab.region, env=lab.aws_env, cluster_id="mine")
        first = await clusters.discover_eks([lab.region], env=lab.aws_env, name_filter="[kd]*")
        assert sorted(first.registered) == [prefix + "doomed", prefix + "keep"]
        await lab.delete_cluster("doomed")
        await lab.delete_cluster("by-hand")
        await lab.create_cluster("kappa", seed=False)
        again = await clusters.discover_eks([lab.region], env=lab.aws_env, name_filter="[kd]*", prune=True)
        assert again.registered == [prefix + "kappa"]
        assert again.kept == [prefix + "keep"]
        assert again.unregistered == [prefix + "doomed"]
        assert sorted(clusters) == sorted(["mine", prefix + "kappa", prefix + "keep"])  # "mine" stays


async def test_a_failing_region_prunes_nothing(lab: EKSLab) -> None:
    await lab.create_cluster("stays", seed=False)
    async with Clusters() as clusters:
        await clusters.discover_eks([lab.region], env=lab.aws_env)
        lab.deny_aws(region=lab.region)
        result = await clusters.discover_eks([lab.region], env=lab.aws_env, prune=True)
        assert result.unregistered == [] and len(result.failures) == 1
        assert list(clusters) == [f"{lab.account_id}-{lab.region}-stays"]


async def test_a_cluster_discovery_saw_deleted_or_deleting_is_not_registered_again_from_the_cache(
    lab: EKSLab,
) -> None:
    for name in ("c1", "c2"):
        await lab.create_cluster(name, seed=False)
    async with Clusters() as clusters:
        await clusters.discover_eks([lab.region], env=lab.aws_env)
        await lab.delete_cluster("c1")
        lab.set_cluster_status("c2", "DELETING")
        result = await clusters.discover_eks([lab.region], env=lab.aws_env)  # no prune: both stay
        assert [(f.name, f.status, f.active) for f in result.found] == [("c2", "DELETING", False)]
        assert len(clusters) == 2
        with pytest.raises(EKSAuthError, match="no EKS cluster named 'c1'"):
            await clusters.register_eks("c1", lab.region, env=lab.aws_env, cluster_id="again-c1")
        with pytest.raises(EKSAuthError, match="'c2' is DELETING, not ACTIVE"):
            await clusters.register_eks("c2", lab.region, env=lab.aws_env, cluster_id="again-c2")


async def test_names_tags_and_ids_are_the_callers_choice(lab: EKSLab) -> None:
    await lab.create_cluster("web-1", seed=False, tags={"team": "web", "env": "prod"})
    await lab.create_cluster("web-2", seed=False, tags={"team": "web", "env": "dev"})
    await lab.create_cluster("db-1", seed=False, tags={"team": "web", "env": "prod"})
    async with Clusters() as clusters:
        result = await clusters.discover_eks(
            [lab.region],
            env=lab.aws_env,
            name_filter="web-*",
            tags={"env": "prod"},
            cluster_id=lambda found: f"{found.tags['team']}/{found.name}",
        )
        assert result.registered == ["web/web-1"] and result.found[0].tags["env"] == "prod"
        assert result.calls == {"ListClusters": 1, "DescribeCluster": 2}  # db-1 never described


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"regions": "us-east-1"}, "regions must be a list"),
        ({"regions": []}, "at least one AWS region"),
        ({"regions": ["us-east-1"], "concurrency": 0}, "concurrency"),
        ({"regions": ["us-east-1"], "tags": {"team": 1}}, "tags must map"),
        ({"regions": ["us-east-1"], "cluster_id": "fixed"}, "cluster_id must be a function"),
    ],
)
async def test_bad_arguments_are_refused_before_any_aws_call(
    arguments: dict[str, object], words: str
) -> None:
    async with Clusters() as clusters:
        with pytest.raises(InvalidArgument, match=words):
            await clusters.discover_eks(**arguments)  # type: ignore[arg-type]

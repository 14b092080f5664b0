"""The registry's DescribeCluster cache: answers live minutes at most (on the registry's clock)
and are dropped on unregister, so a deleted or DELETING cluster is never registered from it."""

from __future__ import annotations

import asyncio

import pytest

from kom_async import Clusters
from kom_async.errors import EKSAuthError, EKSAuthErrorKind
from kom_async.lab import EKSLab, FakeClock


async def test_after_unregister_a_deleted_or_deleting_cluster_is_refused_as_a_fresh_registry_would(
    eks_lab: EKSLab,
) -> None:
    lab = eks_lab
    await lab.create_cluster("c1")
    await lab.create_cluster("c2")
    async with Clusters() as clusters:
        for name in ("c1", "c2"):
            await clusters.register_eks(name, lab.region, env=lab.aws_env)
        for name in ("c1", "c2"):
            await clusters.unregister(f"{lab.region}-{name}")
        await lab.delete_cluster("c1")
        lab.set_cluster_status("c2", "DELETING")
        with pytest.raises(EKSAuthError) as gone:
            await clusters.register_eks("c1", lab.region, env=lab.aws_env)
        assert gone.value.kind is EKSAuthErrorKind.ClusterNotFound
        assert "no EKS cluster named 'c1'" in str(gone.value)
        with pytest.raises(EKSAuthError) as deleting:
            await clusters.register_eks("c2", lab.region, env=lab.aws_env)
        assert "'c2' is DELETING, not ACTIVE" in str(deleting.value)
        assert list(clusters) == []


async def test_a_describe_answer_is_reused_for_minutes_then_asked_again(
    lab_clock: FakeClock, eks_lab: EKSLab
) -> None:
    lab = eks_lab
    await lab.create_cluster("c3")
    async with Clusters(clock=lab_clock) as clusters:
        await clusters.register_eks("c3", lab.region, env=lab.aws_env, cluster_id="first")
        lab.set_cluster_status("c3", "DELETING")
        lab_clock.advance(60)  # within the cache's lifetime: the answer is reused (no call)
        before = lab.aws_requests()["eks"]
        await clusters.register_eks("c3", lab.region, env=lab.aws_env, cluster_id="second")
        assert lab.aws_requests()["eks"] == before
        lab_clock.advance(5 * 60)  # past it: DescribeCluster is asked again, and says DELETING
        with pytest.raises(EKSAuthError, match="'c3' is DELETING, not ACTIVE"):
            await clusters.register_eks("c3", lab.region, env=lab.aws_env, cluster_id="third")
        assert sorted(clusters) == ["first", "second"]



async def test_closing_frees_the_cached_answers_a_slice_per_loop_turn() -> None:
    """10,000 cached answers freed in one go stalled the loop ~25 ms; they go 500 per turn."""
    from kom_async.auth.eks.aws import ClusterEndpoint
    from kom_async.eks import EKSAuthConfig

    clusters = Clusters()
    connector = clusters._connector
    for i in range(1_200):
        endpoint = ClusterEndpoint(endpoint=f"https://c{i}.example", ca_data=b"ca", status="ACTIVE")
        connector.record_described(EKSAuthConfig(cluster_name=f"c{i}", region="eu-west-1"), endpoint)
    turns = 0

    def count() -> None:
        nonlocal turns
        turns += 1
        handle[0] = loop.call_soon(count)

    loop = asyncio.get_running_loop()
    handle = [loop.call_soon(count)]
    await clusters.aclose()
    handle[0].cancel()
    assert connector.cached_endpoint(EKSAuthConfig(cluster_name="c1", region="eu-west-1")) is None
    assert turns >= 3

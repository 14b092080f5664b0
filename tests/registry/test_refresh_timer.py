"""A registry's refresh loops sleep on its one timer (``auth/wakeups.py``)."""

from __future__ import annotations

import asyncio

from kom_async import Clusters
from kom_async.lab import EKSLab, FakeClock


async def test_the_refresh_loops_of_a_registry_sleep_on_its_one_timer(
    lab_clock: FakeClock, eks_lab: EKSLab
) -> None:
    """48 clusters, one timer on the clock: when their refreshes fall due together they are
    woken a batch per loop iteration (tests/auth/test_wakeups.py), not all in one."""
    lab = eks_lab
    await lab.create_cluster("fleet")
    async with Clusters(clock=lab_clock) as clusters:
        for i in range(48):
            await clusters.register_eks("fleet", lab.region, env=lab.aws_env, cluster_id=f"f{i}")
        providers = [c.token_provider for c in clusters.values() if c.token_provider is not None]
        assert len(providers) == 48
        for _ in range(1_000):  # the timer task starts sleeping on the clock in a later turn
            if lab_clock.sleepers:
                break
            await asyncio.sleep(0)
        assert lab_clock.sleepers == 1
        before = sum(p.stats.fetches for p in providers)
        lab_clock.advance(3600)
        for _ in range(10_000):
            if sum(p.stats.fetches for p in providers) - before >= 48:
                break
            await asyncio.sleep(0.001)
        assert sum(p.stats.fetches for p in providers) - before >= 48

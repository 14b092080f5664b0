"""Scenario 6, last part: the idle refresh loop of 1,000 natively served EKS clusters over a
virtual hour — event-loop wake-ups per cluster per token lifetime (an instrumented refresh timer
counts them) and how the jitter spreads the refreshes of tokens all minted at the same instant."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from typing import Any

from benchmarks.common import BenchConfig, CountingWakeups, settle
from benchmarks.labproc import LabProcess
from kom_async import Clusters
from kom_async.lab import FakeClock

HOUR = 3600.0
STEP = 5.0  # virtual seconds per clock advance while idle (quick mode: 15)
CONCURRENCY = 64
REFRESH_PREFIX = "kom-async:refresh:"


async def _register(clusters: Clusters, region: str, env: dict[str, str], names: list[str]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> None:
        async with gate:
            await clusters.register_eks(name, region, env=env)

    await asyncio.gather(*(one(name) for name in names))


async def idle_hour(cfg: BenchConfig) -> dict[str, Any]:
    """Register N clusters on a counting virtual clock, then idle one virtual hour."""
    n = cfg.pick(1000, 100)
    names = [f"idle-{i:04d}" for i in range(n)]
    clock = FakeClock()
    async with LabProcess(names, seed=False, kubeconfigs="none") as lab, Clusters(clock=clock) as clusters:
        counted = CountingWakeups.installed(clusters, clock)
        minted_at = clock.time()
        await _register(clusters, lab.info["region"], lab.info["aws_env"], names)
        await settle(counted, n, limit=60)
        first = sorted(
            due - minted_at for task, _, due in counted.deadlines if task.startswith(REFRESH_PREFIX)
        )
        counted.reset()
        fetches0 = sum(c.token_provider.stats.fetches for c in clusters.values() if c.token_provider)
        idle_end = clock.time() + HOUR
        step = STEP * 3 if cfg.quick else STEP
        for _ in range(int(HOUR / step)):
            clock.advance(step)
            await settle(counted, n, limit=60)
        fetches = (
            sum(c.token_provider.stats.fetches for c in clusters.values() if c.token_provider) - fetches0
        )
        wakeups = [counted.wakeups.get(REFRESH_PREFIX + cid, 0) for cid in clusters]
        later = [due - minted_at for task, _, due in counted.deadlines if task.startswith(REFRESH_PREFIX)]
        deadlines = sorted(first + [t for t in later if t <= idle_end - minted_at])
    total = sum(wakeups)
    buckets = Counter(int(x) for x in first)
    return {
        "idle_clusters": n,
        "idle_virtual_seconds": HOUR,
        "background_refreshes": fetches,
        "refreshes_per_cluster_per_hour": fetches / n,
        "wakeups_per_cluster_per_hour": total / n,
        "wakeups_per_token": total / fetches if fetches else float("nan"),
        "max_wakeups_one_cluster": max(wakeups) if wakeups else 0,
        "jitter": {
            "first_refresh_offset_min_s": first[0],
            "first_refresh_offset_max_s": first[-1],
            "first_refresh_spread_s": first[-1] - first[0],
            "first_refresh_stdev_s": statistics.pstdev(first),
            "peak_refreshes_in_one_second": max(buckets.values()),
            "refresh_offsets_s": [round(x, 2) for x in first],
            "refresh_deadlines_s": [round(x, 2) for x in deadlines],
        },
    }

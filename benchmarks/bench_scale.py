"""Scenario 6: scale — 1,000 lab EKS clusters registered natively in one registry.

Measures the registration time, memory per cluster (RSS, and tracemalloc in a second
pass so tracing does not slow the timed one), the refresh loop's event-loop wake-ups per
cluster over an idle virtual hour (counted by an instrumented clock), and how the jitter
spreads the refreshes of clusters whose tokens were all minted at the same instant.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from collections import Counter
from typing import Any

from benchmarks.common import BenchConfig, CountingClock, ScenarioResult, set_verdict, settle
from benchmarks.labproc import LabProcess
from kom_async import Clusters

NAME = "scale"
HOUR = 3600.0
STEP = 5.0  # virtual seconds per clock advance while idle (quick mode: 15)
CONCURRENCY = 64
REFRESH_PREFIX = "kom-async:refresh:"
IDLE_REAL_SECONDS = 3.0


def rss_bytes() -> int | None:
    """This process's resident set size, or None without psutil."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return None
    return int(psutil.Process().memory_info().rss)


async def register_all(clusters: Clusters, region: str, env: dict[str, str], names: list[str]) -> float:
    """Register every lab cluster by name (``register_eks``), ``CONCURRENCY`` at a time; seconds."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> None:
        async with gate:
            await clusters.register_eks(name, region, env=env)

    start = time.perf_counter()
    await asyncio.gather(*(one(name) for name in names))
    return time.perf_counter() - start


async def register_kubeconfigs(clusters: Clusters, kubeconfigs: list[str]) -> float:
    """Register EKS kubeconfigs (``aws eks get-token`` exec users, served natively); seconds."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(text: str) -> None:
        async with gate:
            await clusters.register_eks_by_string(text)

    start = time.perf_counter()
    await asyncio.gather(*(one(text) for text in kubeconfigs))
    return time.perf_counter() - start


async def count_loop_iterations(seconds: float) -> int | None:
    """Event-loop iterations (selector polls) while this task sleeps ``seconds``; None if the
    loop's selector cannot be instrumented."""
    selector = getattr(asyncio.get_running_loop(), "_selector", None)
    if selector is None:
        return None
    polls = 0
    select = selector.select

    def counting_select(timeout: float | None = None) -> Any:
        nonlocal polls
        polls += 1
        return select(timeout)

    selector.select = counting_select
    try:
        await asyncio.sleep(seconds)
    finally:
        del selector.select  # back to the class's method
    return polls


def _check_native(clusters: Clusters) -> None:
    for cluster in clusters.values():
        provider = cluster.token_provider
        if provider is None or provider.source.kind != "eks-native" or cluster.refresh_task is None:
            raise RuntimeError(f"cluster {cluster.id} is not served natively with a refresh task")


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Register N clusters, measure memory, then idle one virtual hour counting wake-ups."""
    result = ScenarioResult(NAME, "6. Scale")
    n = cfg.pick(1000, 100)
    clock = CountingClock()
    metrics: dict[str, Any] = {"clusters": n, "registration_concurrency": CONCURRENCY}
    names = [f"scale-{i:04d}" for i in range(n)]
    start = time.perf_counter()
    # the lab (moto and the API server) lives in a child process: this process's memory and
    # CPU are then kom-async's alone
    async with LabProcess(names, seed=False, kubeconfigs="eks") as lab:
        metrics["lab_setup_seconds"] = time.perf_counter() - start
        region: str = lab.info["region"]
        env: dict[str, str] = lab.info["aws_env"]

        # pass 1: timed registration, RSS, then an idle virtual hour. The first cluster also
        # builds the registry's shared AWS clients: it is timed, but memory is measured after it.
        async with Clusters(clock=clock) as clusters:
            minted_at = clock.time()
            first_seconds = await register_all(clusters, region, env, names[:1])
            gc.collect()
            rss0 = rss_bytes()
            seconds = first_seconds + await register_all(clusters, region, env, names[1:])
            _check_native(clusters)
            gc.collect()
            rss1 = rss_bytes()
            await settle(clock, n, limit=60)
            first = sorted(
                due - minted_at for task, _, due in clock.deadlines if task.startswith(REFRESH_PREFIX)
            )
            clock.reset()
            fetches0 = sum(c.token_provider.stats.fetches for c in clusters.values() if c.token_provider)
            idle_end = clock.time() + HOUR
            step = STEP * 3 if cfg.quick else STEP
            for _ in range(int(HOUR / step)):
                clock.advance(step)
                await settle(clock, n, limit=60)
            fetches = (
                sum(c.token_provider.stats.fetches for c in clusters.values() if c.token_provider) - fetches0
            )
            wakeups = [clock.wakeups.get(REFRESH_PREFIX + cid, 0) for cid in clusters]
            # every refresh deadline, the first round included, relative to the first mint
            later = [due - minted_at for task, _, due in clock.deadlines if task.startswith(REFRESH_PREFIX)]
            deadlines = sorted(first + [t for t in later if t <= idle_end - minted_at])
        metrics["register_seconds"] = seconds
        metrics["register_ms_per_cluster"] = seconds / n * 1e3
        metrics["first_cluster_ms"] = first_seconds * 1e3
        grown_rss = rss1 - rss0 if rss0 is not None and rss1 is not None else None
        metrics["rss_bytes_per_cluster"] = grown_rss / (n - 1) if grown_rss is not None else None

        # the same clusters from EKS kubeconfigs: no DescribeCluster call, only local work.
        # This registry runs on the real clock, to count real event-loop iterations while idle.
        kubeconfigs = [lab.info["clusters"][name]["eks_kubeconfig"] for name in names]
        async with Clusters() as from_files:
            metrics["kubeconfig_register_seconds"] = await register_kubeconfigs(from_files, kubeconfigs)
            _check_native(from_files)
            await asyncio.sleep(0.2)  # let registration's I/O settle
            idle_seconds = 1.0 if cfg.quick else IDLE_REAL_SECONDS
            iterations = await count_loop_iterations(idle_seconds)
        metrics["real_idle_seconds"] = idle_seconds
        metrics["real_idle_loop_iterations"] = iterations

        # pass 2: the same registration under tracemalloc
        tracemalloc.start()
        try:
            async with Clusters(clock=clock) as traced:
                await register_all(traced, region, env, names[:1])
                gc.collect()
                base = tracemalloc.get_traced_memory()[0]
                await register_all(traced, region, env, names[1:])
                gc.collect()
                grown = tracemalloc.get_traced_memory()[0] - base
                metrics["tracemalloc_bytes_per_cluster"] = grown / (n - 1)
        finally:
            tracemalloc.stop()

    refreshes_per_cluster = fetches / n
    wakeups_total = sum(wakeups)
    per_token = wakeups_total / fetches if fetches else float("nan")
    lifetime_min = 14.0
    metrics.update(
        {
            "idle_virtual_seconds": HOUR,
            "background_refreshes": fetches,
            "refreshes_per_cluster_per_hour": refreshes_per_cluster,
            "wakeups_per_cluster_per_hour": wakeups_total / n,
            "wakeups_per_token": per_token,
            "wakeups_per_cluster_per_14min": wakeups_total / n / (60 / lifetime_min),
            "max_wakeups_one_cluster": max(wakeups) if wakeups else 0,
        }
    )
    buckets = Counter(int(x) for x in first)
    jitter = {
        "first_refresh_offset_min_s": first[0],
        "first_refresh_offset_max_s": first[-1],
        "first_refresh_spread_s": first[-1] - first[0],
        "first_refresh_stdev_s": statistics.pstdev(first),
        "peak_refreshes_in_one_second": max(buckets.values()),
        "refresh_offsets_s": [round(x, 2) for x in first],
        "refresh_deadlines_s": [round(x, 2) for x in deadlines],
    }
    metrics["jitter"] = jitter
    result.metrics = metrics
    rss = metrics["rss_bytes_per_cluster"]
    result.rows = [
        {"measure": "clusters registered (register_eks, native)", "value": n},
        {"measure": f"total registration time ({CONCURRENCY} at a time)", "value": f"{seconds:.2f} s"},
        {"measure": "registration per cluster", "value": f"{seconds / n * 1e3:.2f} ms"},
        {
            "measure": "same, from EKS kubeconfigs (no DescribeCluster)",
            "value": f"{metrics['kubeconfig_register_seconds']:.2f} s",
        },
        {
            "measure": "memory per cluster (RSS)",
            "value": f"{rss / 1024:.0f} KiB" if rss is not None else "n/a",
        },
        {
            "measure": "memory per cluster (tracemalloc)",
            "value": f"{metrics['tracemalloc_bytes_per_cluster'] / 1024:.0f} KiB",
        },
        {"measure": "idle wake-ups per cluster per token lifetime", "value": f"{per_token:.2f}"},
        {"measure": "idle wake-ups per cluster per hour", "value": f"{wakeups_total / n:.2f}"},
        {
            "measure": f"real event-loop iterations in {metrics['real_idle_seconds']:.0f} s idle "
            f"({n} registered)",
            "value": metrics["real_idle_loop_iterations"],
        },
        {"measure": "background refreshes per cluster per hour", "value": f"{refreshes_per_cluster:.2f}"},
        {"measure": "first refreshes spread over", "value": f"{jitter['first_refresh_spread_s']:.1f} s"},
        {"measure": "peak refreshes in one second", "value": jitter["peak_refreshes_in_one_second"]},
    ]
    result.target = "1 event-loop wake-up per cluster per token lifetime while idle"
    exact = bool(wakeups) and abs(per_token - 1.0) < 0.05 and max(wakeups) <= 8
    set_verdict(result, "met" if exact else "missed")
    result.conditions = (
        "in-process registration of lab EKS clusters (lab in a child process), native tokens; "
        "wake-ups counted over an idle virtual hour (injected clock)"
    )
    result.headline = (
        f"{n:,} clusters in {seconds:.1f} s, "
        + (f"{rss / 1024:.0f} KiB RSS / " if rss is not None else "")
        + f"{metrics['tracemalloc_bytes_per_cluster'] / 1024:.0f} KiB traced per cluster; "
        f"{per_token:.2f} wake-ups per token lifetime; first refreshes spread over "
        f"{jitter['first_refresh_spread_s']:.0f} s (peak {jitter['peak_refreshes_in_one_second']}/s)"
    )
    result.notes.append(
        "memory per cluster is marginal: measured after the first registration, which also builds "
        "the registry's shared aiobotocore clients; "
        "all tokens are minted at the same virtual instant, so without jitter every cluster would "
        f"refresh in the same second ({n} at once); the lab runs in a child process, so RSS is "
        "this process's growth (the allocator may reuse memory freed earlier, so it can read "
        "below tracemalloc's count)"
    )
    if cfg.quick:
        result.notes.append(f"quick mode: {n} clusters instead of 1,000")
    return result

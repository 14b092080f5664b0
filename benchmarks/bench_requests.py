"""Scenario 4: request overhead — ``CoreV1Api.list_namespaced_pod`` against the lab.

EKS-authenticated through kom-async's provider (native tokens) vs a static token through
the same client, and vs a plain kubernetes_asyncio ``ApiClient`` with that static token.
The lab runs in a child process so the client's numbers are the client's; besides
requests per second, the client process's CPU time per request is recorded. The lab caches
successful token reviews for 2 minutes, as kube-apiserver does for aws-iam-authenticator,
so both tokens cost the server the same.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api
from kubernetes_asyncio.config import load_kube_config_from_dict

from benchmarks.common import BenchConfig, ScenarioResult, judge, median, median_ci, no_gc, set_verdict
from benchmarks.labproc import LabProcess
from kom_async import Clusters

NAME = "request_overhead"
TARGET_SLOWDOWN = 0.03
NAMESPACE = "default"
EKS = "kom-async EKS (native provider)"
STATIC = "kom-async static token"
PLAIN = "kubernetes_asyncio static token"
LONG = "kom-async static token, EKS-sized"

Call = Callable[[], Awaitable[Any]]


def list_pods(api: CoreV1Api) -> Call:
    """The request under test, as a no-argument coroutine function."""

    async def call() -> Any:
        return await api.list_namespaced_pod(NAMESPACE)

    return call


async def measure(call: Call, total: int, concurrency: int) -> tuple[float, float]:
    """Run ``total`` calls with ``concurrency`` workers: (wall seconds, client CPU seconds)."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    with no_gc():
        cpu = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    return wall, cpu


async def interleaved_round(
    calls: dict[str, Call], batch: int, cycles: int, concurrency: int, reverse: bool
) -> dict[str, tuple[float, float]]:
    """One round: ``cycles`` times, a batch of each variant in turn; per variant
    (requests/s, client CPU µs per request). Short alternating batches expose every variant
    to the same bursts of load from other processes."""
    labels = list(calls)[::-1] if reverse else list(calls)
    wall = dict.fromkeys(labels, 0.0)
    cpu = dict.fromkeys(labels, 0.0)
    for _ in range(cycles):
        for label in labels:
            w, c = await measure(calls[label], batch, concurrency)
            wall[label] += w
            cpu[label] += c
    total = batch * cycles
    return {label: (total / wall[label], cpu[label] / total * 1e6) for label in labels}


def paired_slowdown(ours: list[float], base: list[float]) -> float:
    """Median over rounds of ``1 - ours/base`` (positive: ours is slower)."""
    return median([1 - a / b for a, b in zip(ours, base, strict=True)])


def quartiles(ours: list[float], base: list[float]) -> tuple[float, float]:
    """First and third quartile of the per-round ratios ``ours/base``."""
    q = statistics.quantiles([a / b for a, b in zip(ours, base, strict=True)], n=4)
    return q[0], q[2]


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Requests/s at concurrency 1 and 64 for the three clients, medians over rounds."""
    result = ScenarioResult(NAME, "4. Request overhead")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    # many short rounds: the median of per-round pairs is what resists bursts of load
    rounds = cfg.pick(24, 4)
    # per concurrency: (requests per batch, batches of each variant per round)
    plan = {1: (25, cfg.pick(3, 2)), 64: (128, cfg.pick(2, 1))}
    totals = {conc: batch * cycles for conc, (batch, cycles) in plan.items()}
    async with LabProcess(["bench"], cache_token_reviews=True) as lab, Clusters() as clusters:
        conf = lab.info["clusters"]["bench"]
        eks = await clusters.register_by_string(conf["eks_kubeconfig"], cluster_id="eks")
        static = await clusters.register_by_string(conf["static_kubeconfig"], cluster_id="static")
        long = await clusters.register_by_string(conf["long_static_kubeconfig"], cluster_id="long")
        provider = clusters.get("eks").token_provider
        if provider is None or provider.source.kind != "eks-native":
            raise RuntimeError("the EKS kubeconfig was not served by the native token source")
        plain_conf = Configuration()
        await load_kube_config_from_dict(
            yaml.safe_load(conf["static_kubeconfig"]), client_configuration=plain_conf
        )
        async with ApiClient(plain_conf) as plain:
            apis = {
                EKS: CoreV1Api(eks.api_client),
                STATIC: CoreV1Api(static.api_client),
                LONG: CoreV1Api(long.api_client),
                PLAIN: CoreV1Api(plain),
            }
            calls = {label: list_pods(api) for label, api in apis.items()}
            for call in calls.values():  # warm-up: connections, TLS sessions, first token
                await measure(call, 64, 8)
            rps: dict[tuple[str, int], list[float]] = {}
            cpu: dict[tuple[str, int], list[float]] = {}
            for r in range(rounds):
                for conc, (batch, cycles) in plan.items():
                    measured = await interleaved_round(calls, batch, cycles, conc, reverse=r % 2 == 1)
                    for label, (value, cpu_us) in measured.items():
                        rps.setdefault((label, conc), []).append(value)
                        cpu.setdefault((label, conc), []).append(cpu_us)
        fetches = provider.stats.fetches
    med_rps = {key: median(v) for key, v in rps.items()}
    med_cpu = {key: median(v) for key, v in cpu.items()}
    # paired per round (the variants ran in alternating short batches), so load from other
    # processes on a shared machine hits them alike
    slowdown = {conc: paired_slowdown(rps[(EKS, conc)], rps[(STATIC, conc)]) for conc in totals}
    slowdown_plain = {conc: paired_slowdown(rps[(EKS, conc)], rps[(PLAIN, conc)]) for conc in totals}
    # two static-token clients on the same code path: how far apart identical work measures here
    noise = {conc: abs(paired_slowdown(rps[(LONG, conc)], rps[(STATIC, conc)])) for conc in totals}
    # how widely the per-round pairs scatter: the interquartile range of EKS/static ratios
    spread = {conc: quartiles(rps[(EKS, conc)], rps[(STATIC, conc)]) for conc in totals}
    # client CPU per request is steadier than throughput on a busy machine
    cpu_overhead = {conc: -paired_slowdown(cpu[(EKS, conc)], cpu[(STATIC, conc)]) for conc in totals}
    for conc in totals:
        for label in calls:
            result.rows.append(
                {
                    "variant": label,
                    "concurrency": conc,
                    "req/s": round(med_rps[(label, conc)], 1),
                    "client CPU µs/req": round(med_cpu[(label, conc)], 1),
                    "vs kom static": "—"
                    if label == STATIC
                    else f"{-paired_slowdown(rps[(label, conc)], rps[(STATIC, conc)]):+.1%}",
                }
            )
    result.metrics = {
        "requests_per_second": {f"{label} @{conc}": v for (label, conc), v in med_rps.items()},
        "client_cpu_us_per_request": {f"{label} @{conc}": v for (label, conc), v in med_cpu.items()},
        "eks_slowdown_vs_kom_static": slowdown,
        "eks_slowdown_vs_kubernetes_asyncio_static": slowdown_plain,
        "noise_floor_static_vs_eks_sized_static": noise,
        "eks_over_static_ratio_iqr": spread,
        "eks_client_cpu_overhead_vs_kom_static": cpu_overhead,
        "per_round_rps": {f"{label} @{conc}": v for (label, conc), v in rps.items()},
        "rounds": rounds,
        "requests_per_round": totals,
        "namespace": NAMESPACE,
        "eks_token_fetches": fetches,
    }
    # 95 % confidence interval of the median paired slowdown: the verdict's noise band
    bands = {
        conc: median_ci([1 - a / b for a, b in zip(rps[(EKS, conc)], rps[(STATIC, conc)], strict=True)])
        for conc in totals
    }
    result.metrics["eks_slowdown_ci95"] = {conc: list(band) for conc, band in bands.items()}
    verdicts = [judge(lo, hi, TARGET_SLOWDOWN) for lo, hi in bands.values()]
    result.target = (
        f"EKS <= {TARGET_SLOWDOWN:.0%} slower than a static token (whole 95 % CI of the paired median)"
    )
    set_verdict(
        result,
        "missed" if "missed" in verdicts else "not resolved" if "not resolved" in verdicts else "met",
    )
    result.conditions = (
        "in-process client, warm (connections and token cached), lab in a child process caching "
        "token reviews; kom-async static token and plain kubernetes_asyncio as the baselines"
    )
    result.headline = (
        f"EKS throughput vs static token (median of paired rounds; negative = slower): "
        f"{-slowdown[1]:+.1%} at concurrency 1 "
        f"({med_rps[(EKS, 1)]:.0f} vs {med_rps[(STATIC, 1)]:.0f} req/s), {-slowdown[64]:+.1%} at 64 "
        f"({med_rps[(EKS, 64)]:.0f} vs {med_rps[(STATIC, 64)]:.0f} req/s); client CPU per request "
        f"{cpu_overhead[1]:+.1%} / {cpu_overhead[64]:+.1%}; noise floor (two static clients) "
        f"{noise[1]:.1%} / {noise[64]:.1%}; slowdown 95 % CI "
        + " / ".join(f"{-hi:+.1%}..{-lo:+.1%}" for lo, hi in bands.values())
    )
    result.notes.append(
        "the lab runs in a child process and caches token reviews for 2 min like kube-apiserver; "
        "'noise floor' is how far two static-token clients on the same code path (short token vs "
        "EKS-sized token) measure apart in the same run"
    )
    result.notes.append(
        "per-round EKS/static throughput ratios scatter with an interquartile range of "
        + " and ".join(f"{lo - 1:+.1%}..{hi - 1:+.1%} at concurrency {c}" for c, (lo, hi) in spread.items())
        + "; the paired medians are therefore uncertain by about "
        + " / ".join(f"±{0.93 * (hi - lo) / rounds**0.5:.1%}" for lo, hi in spread.values())
        + f" ({rounds} rounds; standard error of a median), which is the resolution of this "
        "comparison. The req/s column is each variant's own median, so its ratios can differ "
        "from the paired figures by about as much"
    )
    if result.verdict != "met":
        within = all(slowdown[c] <= max(noise[c], TARGET_SLOWDOWN) for c in totals)
        result.notes.append(
            result.verdict
            + (" — the point estimates are within this run's noise floor" if within else "")
            + ": the provider's own cost is ~0.2 µs per request (scenario 1) against ~1 ms per "
            "request, and the EKS-sized static client shows what the longer Authorization header "
            f"costs. The machine is a shared {os.cpu_count()}-CPU VM (1-min load average "
            f"{load:.1f} when this scenario started; per-round numbers in latest.json) where "
            "throughput swings up to 2x between rounds. What would close it: run on an idle "
            "machine, or pin client and lab to their own CPUs, so that a 3 % difference is "
            "measurable at all"
        )
    if cfg.quick:
        result.notes.append(f"quick mode: {rounds} rounds of {totals[1]}/{totals[64]} requests per variant")
    return result

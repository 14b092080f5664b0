"""Scenario 7: the real peers side by side on short-lived exec tokens (kom-async, kubernetes_asyncio
with and without its refresh_token loop, kr8s, lightkube), against one lab in a child process.

(a) steady load over a compressed hour: tokens live ``ttl`` real seconds (standing for EKS's
    15 minutes, so every time constant is scaled by ``ttl / 900``: kubernetes_asyncio's
    60 s loop interval and 5 min expiry skew too); each client lists pods every ``tick``;
    failed requests, 401 round trips (counted by the server), plugin runs (counted by the
    plugin), p50/max latency.
(b) a burst of N concurrent requests once every client's last token has expired.
(c) per-request cost of each client with an exec token against the same client with a
    static token: paired interleaved rounds, median ratio with its 95 % confidence interval.

Every client has its own lab cluster (so the server's counters are its own) and runs the
real library code; the plugin is :mod:`benchmarks.token_plugin`, a ~20 ms Python process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import token_plugin
from benchmarks.common import (
    BenchConfig,
    ScenarioResult,
    median,
    median_ci,
    no_gc,
    percentile,
    set_verdict,
)
from benchmarks.labproc import LabProcess
from benchmarks.peers import PEERS, K8sRefreshLoop, Peer, scaled_k8s_skew
from kom_async.lab.kubeconfig import build_kubeconfig, exec_user

NAME = "peers"
TITLE = "7. Peers on short-lived exec tokens"
EKS_LIFETIME = 900.0  # what the short lifetime stands for
OVERHEAD = "overhead"  # the lab cluster of part (c)
BURST_CEILING = 300.0  # seconds a request of the burst may take before it counts as failed


class Harness:
    """Kubeconfig files and plugin logs in a temporary folder, for one lab process."""

    def __init__(self, lab: LabProcess, secret: str, folder: Path) -> None:
        self.lab, self.secret, self.folder = lab, secret, folder

    def exec_kubeconfig(self, cluster: str, key: str, ttl: float) -> str:
        conf = self.lab.info["clusters"][cluster]
        env = {
            "KOM_BENCH_TOKEN_SECRET": self.secret,
            "KOM_BENCH_TOKEN_TTL": str(ttl),
            "KOM_BENCH_PLUGIN_LOG": str(self.folder / f"{key}.log"),
        }
        user = exec_user(sys.executable, ["-I", "-S", token_plugin.__file__], env)
        return self._write(
            key,
            build_kubeconfig(entry_name=cluster, server=conf["server"], ca_data=conf["ca_data"], user=user),
        )

    def static_kubeconfig(self, key: str) -> str:
        return self._write(key, self.lab.info["clusters"][OVERHEAD]["static_kubeconfig"])

    def _write(self, key: str, text: str) -> str:
        path = self.folder / f"{key}.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return str(path)

    def plugin_runs(self, key: str) -> int:
        path = self.folder / f"{key}.log"
        return len(path.read_bytes().splitlines()) if path.exists() else 0


def make_peer(key: str, scale: float) -> Peer:
    peer = PEERS[key]()
    if isinstance(peer, K8sRefreshLoop):
        peer.interval = K8sRefreshLoop.interval * scale
    return peer


async def timed(peer: Peer) -> tuple[float, bool]:
    """One request: (seconds, succeeded)."""
    start = time.perf_counter()
    try:
        await peer.list_pods()
    except Exception:
        return time.perf_counter() - start, False
    return time.perf_counter() - start, True


async def _bounded(peer: Peer) -> tuple[float, bool]:
    """:func:`timed` with a ceiling: a request still waiting after it counts as failed."""
    try:
        return await asyncio.wait_for(timed(peer), BURST_CEILING)
    except TimeoutError:
        return BURST_CEILING, False


async def steady(peer: Peer, duration: float, tick: float) -> list[tuple[float, bool]]:
    """One request every ``tick`` seconds (or right after a slower one) for ``duration``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + duration
    samples = []
    while (now := loop.time()) < end:
        samples.append(await timed(peer))
        await asyncio.sleep(max(0.0, now + tick - loop.time()))
    return samples


def _row(label: str, samples: list[tuple[float, bool]], unauthorized: int, runs: int) -> dict[str, Any]:
    ok = sorted(s for s, good in samples if good)
    return {
        "client": label,
        "requests": len(samples),
        "failed": sum(1 for _, good in samples if not good),
        "401 round trips": unauthorized,
        "plugin runs": runs,
        "p50 ms": round(percentile(ok, 0.5) * 1e3, 1) if ok else None,
        "max ms": round(max(s for s, _ in samples) * 1e3, 1) if samples else None,
    }


async def part_a(h: Harness, keys: list[str], ttl: float, duration: float, tick: float) -> dict[str, Any]:
    """Steady load; returns the started peers (for part b) and per-client rows."""
    scale = ttl / EKS_LIFETIME
    peers = {key: make_peer(key, scale) for key in keys}
    paths = {key: h.exec_kubeconfig(key, key, ttl) for key in keys}
    for key, peer in peers.items():
        await peer.start(paths[key])
    before = await h.lab.stats()
    runs_before = {key: h.plugin_runs(key) for key in keys}
    results = await asyncio.gather(*(steady(peers[k], duration, tick) for k in keys))
    after = await h.lab.stats()
    rows = [
        _row(
            peers[k].label,
            samples,
            after[k]["unauthorized"] - before[k]["unauthorized"],
            h.plugin_runs(k) - runs_before[k],
        )
        for k, samples in zip(keys, results, strict=True)
    ]
    return {"peers": peers, "rows": rows}


async def part_b(h: Harness, peers: dict[str, Peer], ttl: float, burst: int) -> list[dict[str, Any]]:
    """Wait until every token handed out so far has expired, then a burst per client in turn."""
    await asyncio.sleep(ttl + 0.5)
    rows = []
    for key, peer in peers.items():
        before = (await h.lab.stats())[key]
        runs = h.plugin_runs(key)
        start = time.perf_counter()
        samples = await asyncio.gather(*(_bounded(peer) for _ in range(burst)))
        wall = time.perf_counter() - start
        after = (await h.lab.stats())[key]
        row = _row(
            peer.label,
            list(samples),
            after["unauthorized"] - before["unauthorized"],
            h.plugin_runs(key) - runs,
        )
        row["burst wall ms"] = round(wall * 1e3, 1)
        row["401 reasons"] = {
            reason: n - before["rejections"].get(reason, 0)
            for reason, n in after["rejections"].items()
            if n > before["rejections"].get(reason, 0)
        }
        rows.append(row)
    return rows


async def _batch(peer: Peer, n: int) -> float:
    with no_gc():
        start = time.perf_counter()
        for _ in range(n):
            await peer.list_pods()
        return time.perf_counter() - start


async def part_c(h: Harness, keys: list[str], rounds: int, batch: int) -> dict[str, Any]:
    """Exec token (long-lived, cached) vs static token, per client; paired interleaved rounds."""
    variants: dict[tuple[str, str], Peer] = {}
    for key in keys:
        for kind in ("static", "exec"):
            peer = make_peer(key, 1.0)
            path = (
                h.static_kubeconfig(f"c-{key}-static")
                if kind == "static"
                else h.exec_kubeconfig(OVERHEAD, f"c-{key}-exec", 3600.0)
            )
            await peer.start(path)
            variants[(key, kind)] = peer
    try:
        for peer in variants.values():  # warm-up: connections, discovery, first token
            await _batch(peer, 10)
        per_request: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
        order = list(variants)
        for r in range(rounds):
            for v in order if r % 2 == 0 else order[::-1]:
                per_request[v].append(await _batch(variants[v], batch) / batch)
    finally:
        for peer in variants.values():
            await peer.aclose()
    out: dict[str, Any] = {}
    for key in keys:
        ratios = [
            e / s for e, s in zip(per_request[(key, "exec")], per_request[(key, "static")], strict=True)
        ]
        lo, hi = median_ci(ratios)
        out[key] = {
            "static_ms": median(per_request[(key, "static")]) * 1e3,
            "exec_ms": median(per_request[(key, "exec")]) * 1e3,
            "exec_over_static": median(ratios),
            "ci95": [lo, hi],
        }
    return out


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Parts (a), (b), (c) for every peer."""
    result = ScenarioResult(NAME, TITLE)
    ttl = float(cfg.pick(15, 5))
    duration = ttl * 4  # four token lifetimes: a compressed hour at 15 s
    tick = 0.25
    burst = cfg.pick(100, 40)
    keys = list(PEERS)
    secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="kom-bench-peers-") as tmp:
        lab = LabProcess([*keys, OVERHEAD], bench_token_secret=secret, seed=False, kubeconfigs="all")
        async with lab:
            h = Harness(lab, secret, Path(tmp))
            with scaled_k8s_skew(ttl / EKS_LIFETIME):
                a = await part_a(h, keys, ttl, duration, tick)
                try:
                    b = await part_b(h, a["peers"], ttl, burst)
                finally:
                    for peer in a["peers"].values():
                        await peer.aclose()
            c = await part_c(h, keys, cfg.pick(15, 3), cfg.pick(40, 10))
    labels = {key: PEERS[key].label for key in keys}
    result.rows = [{"part": "a", **row} for row in a["rows"]] + [{"part": "b", **row} for row in b]
    result.metrics = {
        "token_lifetime_s": ttl,
        "stands_for_s": EKS_LIFETIME,
        "time_scale": ttl / EKS_LIFETIME,
        "duration_s": duration,
        "tick_s": tick,
        "burst": burst,
        "steady": {row["client"]: row for row in a["rows"]},
        "burst_after_expiry": {row["client"]: row for row in b},
        "overhead": {labels[k]: v for k, v in c.items()},
        "renews": {labels[k]: PEERS[k].renews for k in keys},
    }
    kom_a, kom_b = a["rows"][0], b[0]
    zero = all(r["failed"] == 0 and r["401 round trips"] == 0 for r in (kom_a, kom_b))
    set_verdict(result, "met" if zero else "missed")
    result.target = "kom-async: 0 failed requests and 0 401s, steady and in the burst"
    result.conditions = (
        "in-process clients, the real libraries (kubernetes_asyncio, kr8s, lightkube) as the peers, "
        "a real exec plugin subprocess (~20 ms), lab in a child process; warm for (c)"
    )
    result.headline = _headline(a["rows"], b, c, labels, ttl, burst)
    result.notes += _notes(cfg, ttl, duration, tick, keys)
    return result


def _headline(
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    c: dict[str, Any],
    labels: dict[str, str],
    ttl: float,
    burst: int,
) -> str:
    steady = "; ".join(
        f"{r['client']} {r['failed']} failed/{r['401 round trips']} 401s/{r['plugin runs']} runs" for r in a
    )
    bursts = "; ".join(
        f"{r['client']} {r['failed']} failed/{r['plugin runs']} runs/max {r['max ms']} ms" for r in b
    )
    over = "; ".join(
        f"{labels[k]} {v['static_ms']:.2f} ms static, exec {v['exec_over_static'] - 1:+.1%}"
        f" (CI {v['ci95'][0] - 1:+.1%}..{v['ci95'][1] - 1:+.1%})"
        for k, v in c.items()
    )
    return (
        f"tokens living {ttl:.0f} s (standing for 15 min). (a) steady load over 4 lifetimes: "
        f"{steady}. (b) {burst} concurrent requests after expiry: {bursts}. (c) per request, warm: {over}"
    )


def _notes(cfg: BenchConfig, ttl: float, duration: float, tick: float, keys: list[str]) -> list[str]:
    notes = [
        f"time is compressed by {EKS_LIFETIME / ttl:.0f}x: tokens live {ttl:.0f} s and report "
        f"{ttl * token_plugin.REPORTED_FRACTION:.0f} s (like EKS's 15 and 14 min); kubernetes_asyncio's "
        f"refresh_token interval (60 s -> {60 * ttl / EKS_LIFETIME:.2f} s) and its 5-minute expiry "
        f"skew (-> {300 * ttl / EKS_LIFETIME:.2f} s) are scaled the same way; kom-async's refresh "
        "windows are fractions of the token lifetime already. kr8s and lightkube have no time constants",
        f"(a) every client lists pods every {tick} s for {duration:.0f} s, all at once in one event "
        "loop; 'failed' = an exception reached the caller; '401 round trips' counted by the server; "
        "'plugin runs' counted by the plugin. (b) each client's burst runs alone",
        "kubernetes_asyncio load_kube_config never reruns the plugin, so every request after the "
        "first expiry fails; kr8s and lightkube renew only after a 401 and do not read "
        "expirationTimestamp; neither has single flight, so a burst after expiry runs the plugin "
        "once per waiting request",
        "(c) each client against itself: exec-token client vs static-token client, same library, "
        "same cluster; 95 % confidence interval of the median of paired per-round ratios",
    ]
    if cfg.quick:
        notes.append("quick mode: shorter tokens, smaller burst, fewer rounds")
    return notes

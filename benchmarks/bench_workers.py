"""Scenario 9: a service run as W worker processes, each with the same N exec-plugin clusters.

Without a shared store every worker runs every plugin once per token lifetime (W x N runs);
with ``Clusters(token_store=dir)`` one worker runs it and the others read its token. Both modes
run in the same benchmark run, each over the same number of token lifetimes, against a lab in
a child process that accepts the short-lived tokens of :mod:`benchmarks.token_plugin`; the
plugin counts its own runs. ``python -m benchmarks.bench_workers --worker ...`` is one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import token_plugin
from benchmarks.common import BenchConfig, ScenarioResult, set_verdict
from benchmarks.labproc import LabProcess
from kom_async.lab.kubeconfig import build_kubeconfig, exec_user

NAME = "workers"
TITLE = "9. Tokens shared by a host's workers"
CLUSTER = "workers"
TARGET = 1.1  # plugin runs per lifetime with the store, at most this many times N


async def _worker(store: str | None, kubeconfigs: list[str], duration: float) -> dict[str, int]:
    """Register every kubeconfig, keep the clusters for ``duration`` s (their refresh tasks
    renew tokens), then make one request on each: how many failed."""
    from kubernetes_asyncio.client import CoreV1Api

    from kom_async import Clusters

    failed = 0
    async with Clusters(token_store=store) as clusters:
        for i, path in enumerate(kubeconfigs):
            await clusters.register_by_path(path, cluster_id=f"c{i}")
        await asyncio.sleep(duration)
        for cid in list(clusters):
            try:
                await CoreV1Api(clusters.get(cid).api_client).list_namespace(limit=1)
            except Exception:
                failed += 1
    return {"failed": failed}


def _kubeconfigs(lab: LabProcess, folder: Path, secret: str, n: int, ttl: float) -> list[str]:
    conf = lab.info["clusters"][CLUSTER]
    paths = []
    for i in range(n):
        env = {
            "KOM_BENCH_TOKEN_SECRET": secret,
            "KOM_BENCH_TOKEN_TTL": str(ttl),
            "KOM_BENCH_PLUGIN_LOG": str(folder / f"plugin-{i}.log"),
        }
        user = exec_user(sys.executable, ["-I", "-S", token_plugin.__file__], env)
        text = build_kubeconfig(
            entry_name=f"{CLUSTER}-{i}", server=conf["server"], ca_data=conf["ca_data"], user=user
        )
        path = folder / f"c{i}.yaml"
        path.write_text(text)
        path.chmod(0o600)
        paths.append(str(path))
    return paths


def _runs(folder: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in folder.glob("plugin-*.log"))


async def _mode(
    lab: LabProcess, secret: str, *, shared: bool, workers: int, n: int, ttl: float, lifetimes: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="kom-bench-workers-") as tmp:
        folder = Path(tmp)
        paths = _kubeconfigs(lab, folder, secret, n, ttl)
        store = str(folder / "store") if shared else ""
        duration = ttl * token_plugin.REPORTED_FRACTION * lifetimes
        started = time.perf_counter()
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.bench_workers",
                "--worker",
                f"--store={store}",
                f"--duration={duration}",
                *paths,
                stdout=asyncio.subprocess.PIPE,
            )
            for _ in range(workers)
        ]
        outs = await asyncio.gather(*(p.communicate() for p in procs))
        failed = sum(json.loads(out)["failed"] for out, _ in outs)
        runs = _runs(folder)
    return {
        "plugin_runs": runs,
        "failed_requests": failed,
        "seconds": round(time.perf_counter() - started, 1),
    }


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Both modes, one after the other, against one lab process."""
    result = ScenarioResult(NAME, TITLE)
    workers, n = 4, cfg.pick(100, 20)
    ttl, lifetimes = float(cfg.pick(30, 10)), cfg.pick(3, 2)
    secret = secrets.token_hex(16)
    async with LabProcess([CLUSTER], bench_token_secret=secret, seed=False, kubeconfigs="none") as lab:
        alone = await _mode(lab, secret, shared=False, workers=workers, n=n, ttl=ttl, lifetimes=lifetimes)
        shared = await _mode(lab, secret, shared=True, workers=workers, n=n, ttl=ttl, lifetimes=lifetimes)
    # how many tokens each worker's cluster went through, alone: the token lifetimes covered
    # (the first token, then one per refresh); both modes ran for the same time
    used = alone["plugin_runs"] / (workers * n)
    for row in (alone, shared):
        row["runs_per_lifetime"] = round(row["plugin_runs"] / used, 1)
    ratio = shared["runs_per_lifetime"] / n
    result.metrics = {
        "workers": workers,
        "clusters": n,
        "token_lifetime_s": ttl,
        "tokens_per_cluster": used,
        "shared_runs_per_lifetime_over_n": ratio,
    }
    result.rows = [{"mode": "each worker alone", **alone}, {"mode": "shared store", **shared}]
    result.target = f"with the store, plugin runs per lifetime <= {TARGET} x {n} (without: {workers} x {n})"
    failed = alone["failed_requests"] + shared["failed_requests"]
    set_verdict(result, "met" if ratio <= TARGET and failed == 0 else "missed")
    result.headline = (
        f"{workers} workers x {n} exec clusters, {used:.1f} tokens each: plugin runs per token "
        f"lifetime {alone['runs_per_lifetime']:.0f} alone, {shared['runs_per_lifetime']:.0f} shared "
        f"({ratio:.2f} x N); failed requests {failed}"
    )
    result.conditions = (
        f"{workers} worker processes, a real exec plugin subprocess (~20 ms) per token, tokens living "
        f"{ttl:.0f} s, lab in a child process; runs counted by the plugin; 'per lifetime' divides by "
        "the tokens each worker's cluster went through when alone (same duration in both modes)"
    )
    if cfg.quick:
        result.notes.append("quick mode: fewer clusters, shorter tokens, two lifetimes")
    return result


def _main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_workers")
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--store", default="")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("kubeconfigs", nargs="+")
    args = parser.parse_args()
    out = asyncio.run(_worker(args.store or None, args.kubeconfigs, args.duration))
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    _main()

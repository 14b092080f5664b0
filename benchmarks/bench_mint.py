"""Scenario 3: token minting — native presigner vs ``aws eks get-token`` vs kubernetes_asyncio.

The native and subprocess numbers come from ``benchmarks/bench_minting.py`` (its ``run``);
this module adds kubernetes_asyncio's ``ExecProvider`` running the same ``aws`` command.
All offline: static dummy keys, so no path calls AWS.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import time
from typing import Any

from benchmarks import bench_minting
from benchmarks.common import BenchConfig, ScenarioResult, median

NAME = "token_minting"
TARGET_RATIO = 500.0
AWS_ARGS = ["eks", "get-token", "--cluster-name", "bench", "--region", "us-east-1"]


async def exec_provider_rounds(rounds: int) -> list[float]:
    """Seconds per token of kubernetes_asyncio's ``ExecProvider`` running ``aws eks get-token``."""
    from kubernetes_asyncio.config.exec_provider import ExecProvider
    from kubernetes_asyncio.config.kube_config import ConfigNode

    # no config or credentials files: the static dummy keys are all the CLI sees
    env = {
        **bench_minting.DUMMY_ENV,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    node = ConfigNode(
        "exec",
        {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": AWS_ARGS,
            "env": [{"name": k, "value": v} for k, v in env.items()],
        },
    )
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        status = await ExecProvider(node).run()
        samples.append(time.perf_counter() - start)
        if not str(status.get("token", "")).startswith("k8s-aws-v1."):
            raise RuntimeError("ExecProvider did not return an EKS token")
    return samples


def _minting_run(rounds: int, per_round: int) -> tuple[dict[str, Any], str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        data = bench_minting.run(rounds, per_round)
    return data, out.getvalue()


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Per-token cost of the three ways to get an EKS token; ratios to native."""
    result = ScenarioResult(NAME, "3. Token minting")
    rounds = cfg.pick(11, 3)
    per_round = cfg.pick(1000, 200)
    if shutil.which("aws") is None:
        raise RuntimeError("the aws CLI is not on PATH; scenario 3 needs it")
    # bench_minting.run drives its own event loop, so it runs in a worker thread
    minting, _printed = await asyncio.to_thread(_minting_run, rounds, per_round)
    exec_samples = await exec_provider_rounds(rounds)
    native_s = minting["native_us_per_token"] / 1e6
    cli_s = minting["cli_ms_per_token"] / 1e3
    exec_s = median(exec_samples)
    variants = [
        ("kom-async native presigner (warm)", native_s),
        ("aws eks get-token (subprocess)", cli_s),
        ("kubernetes_asyncio ExecProvider (aws)", exec_s),
    ]
    for label, seconds in variants:
        result.rows.append(
            {
                "variant": label,
                "per token": f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.0f} ms",
                "tokens/s": round(1 / seconds, 1),
                "x native": round(seconds / native_s),
            }
        )
    ratio_cli = cli_s / native_s
    ratio_exec = exec_s / native_s
    result.metrics = {
        "native_us_per_token": minting["native_us_per_token"],
        "native_cold_first_token_ms": minting["native_cold_first_token_ms"],
        "cli_ms_per_token": minting["cli_ms_per_token"],
        "exec_provider_ms_per_token": exec_s * 1e3,
        "exec_provider_samples_ms": [s * 1e3 for s in exec_samples],
        "ratio_cli_over_native": ratio_cli,
        "ratio_exec_provider_over_native": ratio_exec,
        "rounds": rounds,
        "native_tokens_per_round": per_round,
        "source": "native and CLI numbers from benchmarks/bench_minting.py run()",
    }
    result.target = f"native >= {TARGET_RATIO:.0f}x faster than the subprocess"
    result.target_met = ratio_cli >= TARGET_RATIO
    result.headline = (
        f"native {native_s * 1e6:.1f} µs/token vs aws eks get-token {cli_s * 1e3:.0f} ms "
        f"({ratio_cli:,.0f}x) and ExecProvider {exec_s * 1e3:.0f} ms ({ratio_exec:,.0f}x)"
    )
    result.notes.append(
        f"cold first native token (session and credential resolution): "
        f"{minting['native_cold_first_token_ms']:.1f} ms"
    )
    if cfg.quick:
        result.notes.append(f"quick mode: {rounds} subprocess runs per variant")
    return result

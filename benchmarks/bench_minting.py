"""Per-token cost of an EKS token: the native source vs the ``aws eks get-token`` subprocess.

Offline: static dummy keys, no network (neither path calls AWS to presign). Prints the
medians and returns them as a dict; ``python benchmarks/bench_minting.py [rounds]``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from kom_async.auth.aws import AWSClientPool
from kom_async.auth.eks_native import NativeEKSTokenSource
from kom_async.eks import EKSAuthConfig

DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIABENCHMARK0000001",
    "AWS_SECRET_ACCESS_KEY": "benchmarkSecretKey000000000000000000000001",
    "AWS_EC2_METADATA_DISABLED": "true",
}


async def _native_rounds(rounds: int, per_round: int, env: dict[str, str]) -> tuple[list[float], float]:
    """Per-token seconds of a warm source per round, plus the cold first token."""
    config = EKSAuthConfig("bench", region="us-east-1", env=env)  # layered, os.environ untouched
    async with AWSClientPool() as pool:
        source = NativeEKSTokenSource(config, pool=pool)
        start = time.perf_counter()
        await source.fetch()
        cold = time.perf_counter() - start
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(per_round):
                await source.fetch()
            samples.append((time.perf_counter() - start) / per_round)
        return samples, cold


def _cli_rounds(rounds: int, env: dict[str, str]) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(
            ["aws", "eks", "get-token", "--cluster-name", "bench", "--region", "us-east-1"],
            env=env,
            check=True,
            capture_output=True,
        )
        samples.append(time.perf_counter() - start)
    return samples


def run(rounds: int = 15, per_round: int = 1000) -> dict[str, Any]:
    """Measure both paths; return medians (native in µs, CLI in ms) and their ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty")
        open(empty, "w").close()
        aws_env = {**DUMMY_ENV, "AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty}
        native, cold = asyncio.run(_native_rounds(rounds, per_round, aws_env))
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **aws_env}
        result: dict[str, Any] = {
            "native_us_per_token": statistics.median(native) * 1e6,
            "native_cold_first_token_ms": cold * 1e3,
            "rounds": rounds,
            "tokens_per_native_round": per_round,
        }
        if shutil.which("aws"):
            cli = _cli_rounds(rounds, env)
            result["cli_ms_per_token"] = statistics.median(cli) * 1e3
            result["ratio_cli_over_native"] = statistics.median(cli) / statistics.median(native)
        else:
            result["cli_ms_per_token"] = None
            result["ratio_cli_over_native"] = None
    print(
        f"native: {result['native_us_per_token']:.1f} µs/token (median of {rounds} rounds x {per_round}; "
        f"cold first token {result['native_cold_first_token_ms']:.1f} ms)"
    )
    if result["cli_ms_per_token"] is not None:
        print(
            f"aws eks get-token: {result['cli_ms_per_token']:.1f} ms/token (median of {rounds} runs); "
            f"native is {result['ratio_cli_over_native']:.0f}x cheaper"
        )
    else:
        print("aws eks get-token: skipped (the AWS CLI is not on PATH)")
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 15)

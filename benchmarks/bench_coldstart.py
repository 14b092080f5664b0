"""Scenario 8: cold start to the first successful request, each client as a whole new process.

A fresh interpreter imports the client, loads a kubeconfig and lists the pods of one
namespace; measured from the interpreter's first line to the response (in the child) and as
the whole process's wall time (in the parent, interpreter start and exit included). Two
kubeconfigs: an exec user running :mod:`benchmarks.token_plugin` (a ~20 ms plugin), and the
EKS kubeconfig ``aws eks update-kubeconfig`` writes (``aws eks get-token``, the AWS CLI from
this interpreter's environment; kom-async detects it and mints the token natively instead).
Rounds alternate the clients' order; medians with 95 % confidence intervals.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks import token_plugin
from benchmarks.common import BenchConfig, ScenarioResult, median, median_ci
from benchmarks.labproc import LabProcess
from benchmarks.peers import PEERS
from kom_async.lab.kubeconfig import build_kubeconfig, exec_user

NAME = "cold_start"
TITLE = "8. Cold start to first request"
ROOT = str(Path(__file__).resolve().parents[1])  # so the child imports these benchmarks
CLIENTS = ["kom", "k8s-load", "kr8s", "lightkube"]  # the refresh loop starts like load_kube_config

CHILD = """
import time
t0 = time.perf_counter()
import asyncio, json, sys
from benchmarks.peers import PEERS

async def main():
    peer = PEERS[sys.argv[1]]()
    try:
        await peer.start(sys.argv[2])
        await peer.list_pods()
        return time.perf_counter()
    finally:
        await peer.aclose()

print(json.dumps({"first_request_s": asyncio.run(main()) - t0}))
"""


def aws_cli() -> str | None:
    """The AWS CLI installed next to this interpreter (no version-manager shim), else on PATH."""
    beside = Path(sys.executable).with_name("aws")
    return str(beside) if beside.exists() else shutil.which("aws")


def eks_kubeconfig(text: str, aws: str) -> str:
    """The lab's EKS kubeconfig with its ``aws`` command made absolute."""
    doc = yaml.safe_load(text)
    doc["users"][0]["user"]["exec"]["command"] = aws
    return yaml.safe_dump(doc, sort_keys=False)


async def one(client: str, kubeconfig: str) -> tuple[float, float]:
    """(seconds to the first response inside the child, whole-process wall seconds)."""
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        client,
        kubeconfig,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))},
    )
    out, err = await proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{client} cold start failed: {err.decode()[-800:]}")
    return float(json.loads(out)["first_request_s"]), wall


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Every client, both kubeconfigs, ``rounds`` times each in alternating order."""
    result = ScenarioResult(NAME, TITLE)
    aws = aws_cli()
    rounds = cfg.pick(7, 2)
    secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="kom-bench-cold-") as tmp:
        async with LabProcess(["cold"], bench_token_secret=secret, seed=False, kubeconfigs="eks") as lab:
            conf = lab.info["clusters"]["cold"]
            env = {"KOM_BENCH_TOKEN_SECRET": secret, "KOM_BENCH_TOKEN_TTL": "3600"}
            user = exec_user(sys.executable, ["-I", "-S", token_plugin.__file__], env)
            texts = {
                "exec plugin": build_kubeconfig(
                    entry_name="cold", server=conf["server"], ca_data=conf["ca_data"], user=user
                )
            }
            if aws is not None:
                texts["EKS (aws eks get-token)"] = eks_kubeconfig(conf["eks_kubeconfig"], aws)
            paths = {}
            for kind, text in texts.items():
                path = Path(tmp) / f"{len(paths)}.yaml"
                path.write_text(text, encoding="utf-8")
                os.chmod(path, 0o600)
                paths[kind] = str(path)
            cases = [(client, kind) for kind in paths for client in CLIENTS]
            samples: dict[tuple[str, str], list[tuple[float, float]]] = {case: [] for case in cases}
            for r in range(rounds):
                for client, kind in cases if r % 2 == 0 else cases[::-1]:
                    samples[(client, kind)].append(await one(client, paths[kind]))
    metrics: dict[str, Any] = {}
    for (client, kind), values in samples.items():
        first = [v[0] * 1e3 for v in values]
        wall = [v[1] * 1e3 for v in values]
        label = PEERS[client].label
        if client == "kom" and kind.startswith("EKS"):
            label += " (native token, no aws process)"
        metrics[f"{label} | {kind}"] = {
            "first_request_ms": median(first),
            "first_request_ci95_ms": list(median_ci(first)),
            "process_wall_ms": median(wall),
            "process_wall_ci95_ms": list(median_ci(wall)),
            "samples_first_request_ms": first,
        }
        lo, hi = median_ci(first)
        result.rows.append(
            {
                "client": label,
                "kubeconfig": kind,
                "to first response ms": round(median(first)),
                "95% CI": f"{lo:.0f}..{hi:.0f}",
                "whole process ms": round(median(wall)),
            }
        )
    result.metrics = {"clients": metrics, "rounds": rounds, "aws_cli": aws}
    result.target = "none (comparison only)"
    result.conditions = (
        "cold: a new process per run (imports included, warm page cache); the real libraries as "
        "the peers; exec plugin (~20 ms) and EKS kubeconfig (aws CLI from this venv)"
    )
    result.headline = "fresh process, import + kubeconfig + first list (median ms): " + "; ".join(
        f"{row['client']} {row['to first response ms']} ({row['kubeconfig']})" for row in result.rows
    )
    result.notes.append(
        "'to first response' runs from the child's first line (imports included) to the first "
        "successful list; 'whole process' adds interpreter start and exit, measured by the parent"
    )
    if aws is None:
        result.notes.append("the aws CLI was not found: the EKS kubeconfig rows are missing")
    if cfg.quick:
        result.notes.append(f"quick mode: {rounds} rounds")
    return result

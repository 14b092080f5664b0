"""``python -m benchmarks [--quick] [--only NAME ...] [--out DIR]``: run the scenarios, print, write results.

Each scenario runs in its own interpreter (``--in-process``: in this one) and event loop.
A full run (no ``--quick``, no ``--only``) writes ``benchmarks/results/`` — ``latest.json``
(machine, per-scenario medians, ratios and verdicts), ``summary.md`` and ``chart.png`` — and
regenerates the performance table of docs/performance.md from that JSON. Any other run writes to a new
temporary folder (or ``--out``) and refuses to write ``benchmarks/results/``, so a smoke run
never replaces the published one. The exit status is non-zero only when a scenario crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import (
    bench_access,
    bench_coldstart,
    bench_longrun,
    bench_mint,
    bench_peers,
    bench_requests,
    bench_scale,
    bench_storm,
    bench_workers,
)
from benchmarks.chart import write_chart
from benchmarks.common import BenchConfig, ScenarioResult
from benchmarks.report import console_report, markdown_summary, update_performance_page

__all__ = ["SCENARIOS", "main", "run_scenarios"]

Scenario = Callable[[BenchConfig], Coroutine[Any, Any, ScenarioResult]]

SCENARIOS: dict[str, tuple[str, Scenario]] = {
    bench_access.NAME: ("1. Cached token access", bench_access.run),
    bench_storm.NAME: ("2. Refresh storm", bench_storm.run),
    bench_mint.NAME: (bench_mint.TITLE, bench_mint.run),
    bench_requests.NAME: ("4. Request overhead", bench_requests.run),
    bench_longrun.NAME: ("5. Long run, virtual hour", bench_longrun.run),
    bench_scale.NAME: ("6. Scale", bench_scale.run),
    bench_peers.NAME: (bench_peers.TITLE, bench_peers.run),
    bench_coldstart.NAME: (bench_coldstart.TITLE, bench_coldstart.run),
    bench_workers.NAME: (bench_workers.TITLE, bench_workers.run),
}
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PERFORMANCE_PAGE = Path(__file__).resolve().parents[1] / "docs" / "performance.md"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _command_output(*cmd: str) -> str | None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout or done.stderr).strip() or None


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        import psutil  # type: ignore[import-untyped]

        memory: int | None = int(psutil.virtual_memory().total)
    except ImportError:
        memory = None
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "packages": {
            name: _version(name)
            for name in (
                "kom-async",
                "kubernetes_asyncio",
                "kr8s",
                "lightkube",
                "httpx",
                "aiobotocore",
                "aiohttp",
                "moto",
                "awscli",
            )
        },
        "aws_cli": _command_output("aws", "--version"),
        "git_commit": _command_output("git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"),
    }


def run_one(name: str, cfg: BenchConfig) -> ScenarioResult:
    """Run one scenario in a fresh event loop; a crash becomes a result with ``error`` set."""
    title, scenario = SCENARIOS[name]
    start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result: ScenarioResult
    try:
        result = asyncio.run(scenario(cfg))
    except Exception:
        result = ScenarioResult(name, title, error=traceback.format_exc())
    result.seconds = time.perf_counter() - start
    if load is not None:
        result.metrics["loadavg_1min_at_start"] = load
    return result


def run_isolated(name: str, cfg: BenchConfig) -> ScenarioResult:
    """Run one scenario in a fresh interpreter, so no scenario inherits another's heap,
    threads or garbage (memory figures in particular); the child writes its result as JSON."""
    with tempfile.TemporaryDirectory(prefix="kom-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks.runner", "--child", name, "--child-out", str(out)]
        done = subprocess.run([*cmd, *(["--quick"] if cfg.quick else [])], check=False)
        if out.exists():
            return ScenarioResult(**json.loads(out.read_text(encoding="utf-8")))
    return ScenarioResult(
        name, SCENARIOS[name][0], error=f"the scenario's process exited with {done.returncode}"
    )


def run_scenarios(
    names: list[str], cfg: BenchConfig, *, progress: bool = True, isolate: bool = True
) -> list[ScenarioResult]:
    """Run the named scenarios in order, each in its own process unless ``isolate`` is false."""
    results = []
    for name in names:
        if progress:
            print(f"running {SCENARIOS[name][0]} ...", file=sys.stderr, flush=True)
        result = run_isolated(name, cfg) if isolate else run_one(name, cfg)
        if progress:
            status = "crashed" if result.error else f"done in {result.seconds:.1f} s"
            print(f"  {status}", file=sys.stderr, flush=True)
        results.append(result)
    return results


def write_results(
    results: list[ScenarioResult],
    machine: dict[str, Any],
    cfg: BenchConfig,
    total_seconds: float,
    out_dir: Path,
    *,
    chart: bool = True,
) -> None:
    """Write ``latest.json``, ``summary.md`` and (unless disabled) ``chart.png`` to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = {**machine, "loadavg_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    document = {
        "quick": cfg.quick,
        "total_seconds": total_seconds,
        "machine": machine,
        "scenarios": {r.name: dataclasses.asdict(r) for r in results},
    }
    (out_dir / "latest.json").write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    (out_dir / "summary.md").write_text(
        markdown_summary(results, machine, cfg.quick, total_seconds), encoding="utf-8"
    )
    if chart:
        write_chart(results, out_dir / "chart.png", cfg.quick)


def render(out_dir: Path, *, page: Path | None = None) -> int:
    """Rebuild ``summary.md``, ``chart.png`` (and the performance page's table) from ``latest.json``."""
    document = json.loads((out_dir / "latest.json").read_text(encoding="utf-8"))
    results = [ScenarioResult(**data) for data in document["scenarios"].values()]
    cfg = BenchConfig(quick=document["quick"])
    machine, total = document["machine"], document["total_seconds"]
    (out_dir / "summary.md").write_text(
        markdown_summary(results, machine, cfg.quick, total), encoding="utf-8"
    )
    write_chart(results, out_dir / "chart.png", cfg.quick)
    if page is not None:
        update_performance_page(page, document)
    return 0


def choose_out(out: Path | None, *, full: bool) -> Path:
    """Where results go: ``benchmarks/results/`` for a full run, else ``out`` or a new temp folder.

    A quick or partial run may not write ``benchmarks/results/``: the performance page's table is
    generated from it and must describe one full run.
    """
    if out is None:
        return RESULTS_DIR if full else Path(tempfile.mkdtemp(prefix="kom-bench-results-"))
    if not full and out.resolve() == RESULTS_DIR:
        raise SystemExit(
            "python -m benchmarks: only a full run (no --quick, no --only) may write "
            f"{RESULTS_DIR}; pass another --out"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer rounds (< 1 min)")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), metavar="NAME", help="run only these")
    parser.add_argument(
        "--out",
        type=Path,
        help="results directory (default: benchmarks/results/ for a full run, else a new temporary folder)",
    )
    parser.add_argument("--no-chart", action="store_true", help="skip chart.png")
    parser.add_argument(
        "--render",
        action="store_true",
        help="rewrite summary.md, chart.png and (for benchmarks/results/) the docs/performance.md table from "
        "latest.json; run nothing",
    )
    parser.add_argument(
        "--in-process", action="store_true", help="run every scenario in this process (default: one each)"
    )
    parser.add_argument("--child", choices=list(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render:
        out = args.out or RESULTS_DIR
        return render(out, page=PERFORMANCE_PAGE if out.resolve() == RESULTS_DIR else None)
    if args.child:
        logging.basicConfig(level=logging.ERROR)
        result = run_one(args.child, BenchConfig(quick=args.quick))
        args.child_out.write_text(json.dumps(dataclasses.asdict(result), default=str), encoding="utf-8")
        return 0
    logging.basicConfig(level=logging.ERROR)  # the suite provokes 401s and refreshes on purpose

    cfg = BenchConfig(quick=args.quick)
    full = not args.quick and not args.only
    out = choose_out(args.out, full=full)
    names = args.only or list(SCENARIOS)
    machine = machine_info()
    start = time.perf_counter()
    results = run_scenarios(names, cfg, isolate=not args.in_process)
    total = time.perf_counter() - start
    print(console_report(results, machine, cfg.quick))
    print(f"total: {total:.1f} s; results in {out}")
    write_results(results, machine, cfg, total, out, chart=not args.no_chart)
    if full and out.resolve() == RESULTS_DIR:
        update_performance_page(
            PERFORMANCE_PAGE, json.loads((out / "latest.json").read_text(encoding="utf-8"))
        )
        print(f"docs/performance.md table regenerated from {out / 'latest.json'}")
    return 1 if any(r.error is not None for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The benchmark suite runs: quick mode of the cheap scenarios, results written, crashes reported;
quick runs leave the published results and the performance page alone; verdicts respect the noise band."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import bench_longrun, report, runner, token_plugin
from benchmarks.common import BenchConfig, ScenarioResult, judge, median_ci

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_writes_json_summary_and_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    status = runner.main(["--quick", "--only", "cached_access", "refresh_storm", "--out", str(tmp_path)])

    assert status == 0
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["quick"] is True
    assert doc["machine"]["cpu_count"] >= 1 and doc["machine"]["python"]
    storm = doc["scenarios"]["refresh_storm"]
    assert storm["error"] is None
    assert storm["target_met"] is True  # single flight: exactly one fetch
    assert all(row["fetches"] == 1 for row in storm["rows"] if row["variant"].startswith("kom-async"))
    access = doc["scenarios"]["cached_access"]
    assert set(access["metrics"]["ratio_to_floor"]) == {"1 task", "1000 tasks"}
    assert "Cached token access" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_crashing_scenario_makes_the_exit_status_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(cfg: BenchConfig) -> ScenarioResult:
        raise RuntimeError("scenario exploded")

    monkeypatch.setitem(runner.SCENARIOS, "cached_access", ("1. Cached token access", crash))
    status = runner.main(
        ["--quick", "--in-process", "--only", "cached_access", "--out", str(tmp_path), "--no-chart"]
    )

    assert status == 1
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert "scenario exploded" in doc["scenarios"]["cached_access"]["error"]
    assert "CRASHED" in (tmp_path / "summary.md").read_text()


@pytest.mark.skipif(shutil.which("aws") is None, reason="needs the aws CLI")
def test_virtual_hour_kom_async_never_fails_and_load_kube_config_does() -> None:
    result = asyncio.run(bench_longrun.run(BenchConfig(quick=True)))

    rows = {row["client"]: row for row in result.rows}
    assert rows["kom-async"]["failed"] == 0
    assert rows["kom-async"]["401 round trips"] == 0
    assert rows["kubernetes_asyncio load_kube_config (exec)"]["failed"] > 0
    assert result.target_met is True and result.verdict == "met"
    assert "simulated" not in json.dumps(result.rows)  # no peer is stood in for by our own minter


async def test_the_idle_hour_counts_one_refresh_wake_up_per_token() -> None:
    """The instrumented refresh timer sees every refresh loop fall asleep again after each
    advance (a count that only looked at sleepers would let the hour pass with none)."""
    from benchmarks.bench_scale_idle import idle_hour

    idle = await idle_hour(BenchConfig(quick=True))
    assert idle["background_refreshes"] >= 5 * idle["idle_clusters"]
    assert idle["wakeups_per_token"] == 1.0


async def test_the_child_process_lab_serves_eks_and_static_kubeconfigs() -> None:
    from kubernetes_asyncio.client import CoreV1Api

    from benchmarks.labproc import LabProcess
    from kom_async import Clusters

    async with LabProcess(["smoke"], cache_token_reviews=True) as lab, Clusters() as clusters:
        conf = lab.info["clusters"]["smoke"]
        for kind in ("eks", "static", "long_static"):
            kubectl = await clusters.register_by_string(conf[f"{kind}_kubeconfig"], cluster_id=kind)
            pods = await CoreV1Api(kubectl.api_client).list_namespaced_pod("default")
            assert pods.items == []
        provider = clusters.get("eks").token_provider
        assert provider is not None and provider.source.kind == "eks-native"


def _git_status() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.timeout(300)  # a whole `python -m benchmarks` process on a possibly busy machine
@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_a_quick_run_without_out_leaves_the_checkout_and_the_performance_page_untouched() -> None:
    before = _git_status()
    results = ROOT / "benchmarks" / "results"
    stamps = {p.name: p.stat().st_mtime_ns for p in results.iterdir()}
    page = (ROOT / "docs" / "performance.md").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "refresh_storm", "--no-chart"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = Path(done.stdout.rsplit("results in ", 1)[1].split()[0])
    try:
        assert out.resolve() != results.resolve()
        assert json.loads((out / "latest.json").read_text())["quick"] is True
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert _git_status() == before
    assert {p.name: p.stat().st_mtime_ns for p in results.iterdir()} == stamps
    assert (ROOT / "docs" / "performance.md").read_bytes() == page


def test_a_quick_or_partial_run_may_not_write_the_published_results() -> None:
    for argv in (["--quick"], ["--only", "refresh_storm"]):
        with pytest.raises(SystemExit, match="only a full run"):
            runner.main([*argv, "--out", str(runner.RESULTS_DIR), "--no-chart"])


def test_the_performance_page_table_is_generated_from_the_committed_results() -> None:
    document = json.loads((runner.RESULTS_DIR / "latest.json").read_text(encoding="utf-8"))
    assert document["quick"] is False, "benchmarks/results/ must hold a full run"
    page = runner.PERFORMANCE_PAGE.read_text(encoding="utf-8")
    assert report.performance_section(document) in page


def test_update_performance_page_replaces_only_the_marked_block(tmp_path: Path) -> None:
    document = json.loads((runner.RESULTS_DIR / "latest.json").read_text(encoding="utf-8"))
    page = tmp_path / "performance.md"
    page.write_text(f"# x\n\n{report.BLOCK_BEGIN}\nhand-typed numbers\n{report.BLOCK_END}\n\ntail\n")

    report.update_performance_page(page, document)

    text = page.read_text()
    assert "hand-typed numbers" not in text
    assert text.startswith("# x\n\n") and text.endswith("\n\ntail\n")
    assert report.performance_section(document) in text
    page.write_text("no markers")
    with pytest.raises(RuntimeError, match="no benchmark markers"):
        report.update_performance_page(page, document)


def test_a_verdict_is_met_only_when_the_whole_band_clears_the_target() -> None:
    # the point estimate (2 %) is under a 3 % target, but the interval reaches 4 %: not resolved
    assert judge(0.005, 0.04, 0.03) == "not resolved"
    assert judge(0.005, 0.029, 0.03) == "met"
    assert judge(0.031, 0.05, 0.03) == "missed"
    assert judge(400.0, 900.0, 500.0, higher_is_better=True) == "not resolved"
    assert judge(600.0, 900.0, 500.0, higher_is_better=True) == "met"


def test_the_median_interval_comes_from_order_statistics() -> None:
    values = [float(v) for v in range(1, 16)]  # n = 15: the 4th and 12th values (coverage 96.5 %)
    assert median_ci(values) == (4.0, 12.0)
    assert median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0)  # too few for 95 %: the full range


def test_plugin_tokens_expire_on_the_server_as_they_do_for_the_clients() -> None:
    token, reported = token_plugin.mint("s3cret", 10.0, now=1000.0)
    assert token_plugin.verify("s3cret", token, now=1009.9) is None
    assert token_plugin.verify("s3cret", token, now=1010.1) == "bench token expired"
    assert token_plugin.verify("other", token, now=1001.0) == "bad bench token"
    assert reported == pytest.approx(1000.0 + 10.0 * 14 / 15)


async def test_the_lab_process_rejects_expired_plugin_tokens_with_401() -> None:
    import aiohttp

    from benchmarks.labproc import LabProcess

    async with LabProcess(["t"], bench_token_secret="s3cret", seed=False, kubeconfigs="none") as lab:
        conf = lab.info["clusters"]["t"]
        fresh, _ = token_plugin.mint("s3cret", 60.0)
        stale, _ = token_plugin.mint("s3cret", 1.0, now=time.time() - 5)
        ctx = ssl.create_default_context(cadata=base64.b64decode(conf["ca_data"]).decode())
        url = conf["server"] + "/api/v1/namespaces/default/pods"
        async with aiohttp.ClientSession() as session:
            statuses = []
            for token in (fresh, stale):
                headers = {"Authorization": f"Bearer {token}"}
                async with session.get(url, headers=headers, ssl=ctx) as response:
                    statuses.append(response.status)
        stats = (await lab.stats())["t"]
    assert statuses == [200, 401]
    assert stats["unauthorized"] == 1 and stats["tokens_accepted"] == 1

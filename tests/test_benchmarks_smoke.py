"""The benchmark suite runs: quick mode of the cheap scenarios, results written, crashes reported."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from benchmarks import bench_longrun, runner
from benchmarks.common import BenchConfig, ScenarioResult


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
def test_simulated_hour_kom_async_never_fails_and_load_kube_config_does() -> None:
    result = asyncio.run(bench_longrun.run(BenchConfig(quick=True)))

    rows = {row["client"]: row for row in result.rows}
    assert rows["kom-async"]["failed"] == 0
    assert rows["kom-async"]["401 round trips"] == 0
    assert rows["kubernetes_asyncio load_kube_config (exec)"]["failed"] > 0
    assert result.target_met is True


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

"""The examples run as a user runs them: ``python examples/<name>.py`` on the offline lab."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from childproc import communicate
from lab_setup import lab_with_kubeconfigs
from multi_cluster_report import format_table, report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def run_example(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=EXAMPLES.parent,
        env={**os.environ, "PYTHONWARNINGS": "error::ResourceWarning"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await communicate(proc, timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_report_has_a_row_per_kubeconfig_in_the_folder(tmp_path: Path) -> None:
    async with lab_with_kubeconfigs(tmp_path) as lab:
        (tmp_path / "garbage.yaml").write_text("clusters: [")
        lab.write_kubeconfig(tmp_path / "revoked.yaml", "dev", static_token="not-a-valid-token")
        rows = await report(tmp_path)
    by_id = {r.cluster: r for r in rows}
    assert list(by_id) == ["dev", "garbage", "prod", "revoked", "staging"]
    prod = by_id["prod"]
    assert (prod.eks, prod.nodes, prod.pods, prod.not_running, prod.error) == (True, 2, 4, 0, "")
    assert by_id["dev"].token_expires == "never" and prod.token_expires.endswith("Z")
    assert by_id["garbage"].error.startswith("register:")
    assert "401" in by_id["revoked"].error or "Unauthorized" in by_id["revoked"].error
    table = format_table(rows).splitlines()
    assert table[0].split()[:3] == ["CLUSTER", "EKS", "NODES"] and len(table) == 6


async def test_each_example_runs_on_its_own_against_the_lab() -> None:
    scripts = ["multi_cluster_report.py", "fastapi_app.py", "aiohttp_app.py"]
    results = await asyncio.gather(*(run_example(f"examples/{s}") for s in scripts))
    for script, (code, out, err) in zip(scripts, results, strict=True):
        assert code == 0, f"{script}: {err}"
        if script == "multi_cluster_report.py":
            assert out.startswith("CLUSTER")
            assert [line.split()[0] for line in out.splitlines()[1:]] == ["dev", "prod", "staging"]
        else:
            body = json.loads(out)
            assert sorted(body) == ["dev", "prod", "staging"], script
            assert all(v == {"pods": ["api-0", "web-0", "web-1"]} for v in body.values()), script

"""Every code block of README.md and docs/ runs, as written, against the offline lab.

One child process (tests/docs_runner.py) runs them all against one lab and reports per block;
each block is one test here, failing on an error or on anything written to stderr. Blocks
marked ``<!-- skip: REASON -->`` (tests/docblocks.py) are skipped with that reason.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from docblocks import ROOT, Block, all_blocks, pytest_config

BLOCKS = all_blocks()
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP_COMMANDS = (
    "python3 -m pip install nox && python3 -m nox -s demo",
    "python3 -m pip install nox && python3 -m nox -s tests",
)
pytestmark = pytest.mark.timeout(600)  # the first test waits for the whole run


@pytest.fixture(scope="module")
def doc_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every block once; the runner's own stderr must stay empty too."""
    folder = tmp_path_factory.mktemp("docs")
    plan, out = folder / "plan.json", folder / "results.json"
    plan.write_text(json.dumps({"blocks": [b.as_dict() for b in BLOCKS], "pytest_config": pytest_config()}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("docs_runner.py")), str(plan), str(out)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0 and out.exists(), f"the doc runner failed:\n{done.stderr[-4000:]}"
    return {"results": json.loads(out.read_text()), "stderr": done.stderr}


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_the_block_runs_against_the_lab(block: Block, request: pytest.FixtureRequest) -> None:
    if block.skip:
        pytest.skip(block.skip)
    result = request.getfixturevalue("doc_run")["results"][block.id]
    assert result["ok"], f"{block.id} ({block.kind}):\n{result['error']}"


def test_the_runner_wrote_nothing_to_stderr(doc_run: dict[str, Any]) -> None:
    assert doc_run["stderr"] == ""


def test_the_quickstart_prints_the_demo_pods_the_namespaces_and_native_auth_stats(
    doc_run: dict[str, Any],
) -> None:
    [quickstart] = [b for b in BLOCKS if b.path == "README.md" and b.kind == "script"]
    out = doc_run["results"][quickstart.id]["stdout"]
    lines = out.splitlines()
    assert ast.literal_eval(lines[0]) == ["api-0", "web-0", "web-1"]  # the pods of the demo namespace
    assert "demo" in ast.literal_eval(lines[1])
    assert lines[2].startswith("AuthStats(source='eks-native', fetches=1")
    assert "k8s-aws-v1." not in out


def test_every_kind_of_block_is_there_and_every_skip_says_why() -> None:
    kinds = {b.kind for b in BLOCKS if not b.skip}
    assert kinds == {"pytest", "script", "fragment", "shell"}
    assert sum(b.kind == "pytest" for b in BLOCKS) >= 3
    for block in BLOCKS:
        assert block.skip is None or len(block.skip) > 10, block.id


def test_every_python_block_compiles() -> None:
    for block in BLOCKS:
        if block.lang == "python":  # fragments may use top-level await, as notebook cells do
            compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_the_two_setup_commands_are_there_unchanged() -> None:
    section = README.split("## Setup: two commands", 1)[1].split("\n## ", 1)[0]
    for command in SETUP_COMMANDS:
        assert command in section


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert SETUP_COMMANDS[1] in lines, "CI must run the README's test command as a line of its own"

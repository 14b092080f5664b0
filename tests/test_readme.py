"""The README's code: the Quickstart runs exactly as written, and every other Python block compiles."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import sys
from pathlib import Path

import pytest
from childproc import communicate, run_pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

SETUP_COMMANDS = (
    "python3 -m pip install nox && python3 -m nox -s demo",
    "python3 -m pip install nox && python3 -m nox -s tests",
)


def quickstart() -> str:
    match = re.search(r"^## Quickstart\n.*?^```python\n(.*?)^```", README, re.S | re.M)
    assert match, "the README has no '## Quickstart' section with a python block"
    return match.group(1)


async def test_the_quickstart_runs_as_written_against_the_lab_and_prints_pods(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(quickstart(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # nothing borrowed from here
    env["PYTHONWARNINGS"] = "error::ResourceWarning"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await communicate(proc, 90)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert ast.literal_eval(lines[0]) == ["api-0", "web-0", "web-1"]  # the pods of the demo namespace
    assert "demo" in ast.literal_eval(lines[1])
    assert lines[2].startswith("AuthStats(source='eks-native', fetches=1")
    assert "k8s-aws-v1." not in out.decode() + err.decode()


def test_every_python_block_in_the_readme_compiles() -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
    assert len(blocks) >= 2
    for block in blocks:
        # notebook-style snippets may use top-level await
        compile(block, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_the_two_setup_commands_are_there_unchanged() -> None:
    section = README.split("## Setup: two commands", 1)[1].split("\n## ", 1)[0]
    for command in SETUP_COMMANDS:
        assert command in section


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert SETUP_COMMANDS[1] in lines, "CI must run the README's test command as a line of its own"


@pytest.mark.timeout(300)  # a whole pytest process running the README's lab tests
async def test_the_lab_test_examples_pass_under_pytest(tmp_path: Path) -> None:
    """Every README block that is a lab test (the lab fixture, exec, wait) runs as written."""
    blocks = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
    examples = [b for b in blocks if "(eks_lab: EKSLab)" in b]
    assert len(examples) >= 3
    for i, example in enumerate(examples):
        (tmp_path / f"test_readme_lab_example_{i}.py").write_text(example, encoding="utf-8")
    code, out = await run_pytest(
        "-o",
        "asyncio_mode=auto",
        "-W",
        "error::ResourceWarning",
        str(tmp_path),
        cwd=tmp_path,
        timeout=240,  # under the test's own ceiling: a hang ends here
    )
    assert code == 0, out
    assert f"{len(examples)} passed" in out

"""A user who installs the core only (the wheel, its dependencies from PyPI, pytest) keeps a working
test suite and a ``kom-async`` whose every ``--help`` works and whose every hint is true.

Marked ``packaging``: it builds the wheel and installs the core's dependencies from the index
into a fresh venv (a minute or two, once per module).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# building the wheel and installing the core from the index takes minutes on a busy machine
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

# the lab's and the MCP server's own third-party modules: none may load with the core alone
EXTRA_MODULES = ("moto", "trustme", "jsonpatch", "json_merge_patch", "mcp", "pydantic", "uvicorn")


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # never with PYTHONPATH: a checkout on it would shadow the installed wheel
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"{proc.args}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel, the core's dependencies (from the index) and pytest."""
    pytest.importorskip("build", reason="'build' is not installed (it is in the test extra)")
    dist = tmp_path_factory.mktemp("dist")
    ok(run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", dist, ROOT))
    venv = tmp_path_factory.mktemp("core-venv")
    ok(run(sys.executable, "-m", "venv", venv))
    wheel = next(dist.glob("kom_async-*.whl"))
    ok(
        run(
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            wheel,
            "pytest",
        )
    )
    return venv


def user_project(tmp_path: Path, test_text: str) -> Path:
    """A service's checkout: its own (empty) pytest config, so pytest's rootdir stops there even
    when the temporary directory lies inside this repository (nox's TMPDIR does)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_service.py").write_text(test_text)
    return tmp_path


def pytest_in(venv: Path, project: Path) -> subprocess.CompletedProcess[str]:
    return run(venv / "bin" / "python", "-m", "pytest", "-W", "error", "-p", "no:cacheprovider", cwd=project)


def test_a_core_only_install_leaves_the_users_pytest_passing_without_a_warning(
    core_venv: Path, tmp_path: Path
) -> None:
    extras = ", ".join(repr(m) for m in EXTRA_MODULES)
    project = user_project(
        tmp_path,
        "import sys\n\n"
        "def test_service(pytestconfig):\n"
        "    assert pytestconfig.pluginmanager.has_plugin('kom_async_lab')\n"
        f"    assert not [m for m in ({extras},) if m in sys.modules]\n"
        "    assert 1 + 1 == 2\n",
    )
    proc = pytest_in(core_venv, project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert "warning" not in (proc.stdout + proc.stderr).lower()
    assert proc.stderr == ""


def test_every_help_works_with_the_core_only(core_venv: Path) -> None:
    kom = core_venv / "bin" / "kom-async"
    for command in (["demo"], ["lab"], ["mcp"], ["clusters", "check"], ["eks", "get-token"]):
        proc = ok(run(kom, *command, "--help"))
        assert f"usage: kom-async {command[0]}" in proc.stdout, command
        assert proc.stderr == ""


@pytest.mark.parametrize(("command", "extra"), [("demo", "lab"), ("lab", "lab"), ("mcp", "mcp")])
def test_a_command_whose_extra_is_missing_exits_1_with_an_install_line_that_works(
    core_venv: Path, tmp_path: Path, command: str, extra: str
) -> None:
    proc = run(core_venv / "bin" / "kom-async", command, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"kom-async {command} needs the '{extra}' extra" in lines[0]
    # from an index once published, and from a source checkout today
    assert f"pip install 'kom-async[{extra}]'" in lines[0]
    assert f"pip install -e '.[{extra}]'" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written before the check


def test_the_lab_fixtures_without_what_they_need_fail_with_one_line_naming_it(
    core_venv: Path, tmp_path: Path
) -> None:
    """Last in the module: it adds pytest-asyncio to the venv for its second half."""
    project = user_project(tmp_path, "async def test_uses_the_lab(eks_lab):\n    pass\n")
    proc = pytest_in(core_venv, project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the eks_lab fixture needs pytest-asyncio (pip install pytest-asyncio)" in proc.stdout
    assert "Traceback" not in proc.stdout

    ok(
        run(
            core_venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "pytest-asyncio",
        )
    )
    (project / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    proc = pytest_in(core_venv, project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the eks_lab fixture needs the 'lab' extra" in proc.stdout
    assert "pip install 'kom-async[lab]'" in proc.stdout and "pip install -e '.[lab]'" in proc.stdout
    assert "Traceback" not in proc.stdout and "ModuleNotFoundError" not in proc.stdout

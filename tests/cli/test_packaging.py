"""The built wheel and sdist install into a fresh venv, import, run ``kom-async --help`` and the quickstart.

Marked ``packaging`` (skip with ``-m "not packaging"``); it builds without isolation and installs
with ``--no-deps``, reusing this environment's dependencies, so it stays offline and well under a minute.
"""

from __future__ import annotations

import os
import re
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.packaging


def sh(
    *args: str | Path, timeout: float = 120, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    # never with PYTHONPATH: a checkout on it (`PYTHONPATH=$PWD pytest`) would shadow the wheel
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        **kwargs,
    )  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{args}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="'build' is not installed (it is in the test extra)")
    pytest.importorskip("hatchling", reason="'hatchling' is not installed (it is in the test extra)")
    out = tmp_path_factory.mktemp("dist")
    # the default builds the sdist, then the wheel from the unpacked sdist: both are checked
    sh(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    return out


@pytest.fixture(scope="module")
def fresh_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with only the wheel in it; dependencies come from this environment's
    site-packages through a ``.pth`` line (so the editable checkout is *not* importable)."""
    venv = tmp_path_factory.mktemp("venv")
    sh(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    purelib = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    (Path(purelib) / "_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    wheel = next(dist.glob("*.whl"))
    sh(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "--quiet",
        wheel,
    )
    return venv


def test_build_makes_a_wheel_and_an_sdist_with_the_package_and_its_type_marker(dist: Path) -> None:
    wheels, sdists = list(dist.glob("kom_async-0.1.0-*.whl")), list(dist.glob("kom_async-0.1.0.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    names = zipfile.ZipFile(wheels[0]).namelist()
    for module in ("__init__.py", "py.typed", "clusters.py", "metrics.py", "cli/clusters.py", "lab/lab.py"):
        assert f"kom_async/{module}" in names
    entry_points = zipfile.ZipFile(wheels[0]).read("kom_async-0.1.0.dist-info/entry_points.txt").decode()
    assert "kom-async = kom_async.cli:main" in entry_points
    with tarfile.open(sdists[0]) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
    assert {"pyproject.toml", "README.md", "LICENSE", "kom_async/__init__.py"} <= members
    license_files = [n for n in names if n.startswith("kom_async-0.1.0.dist-info/") and n.endswith("LICENSE")]
    assert license_files and "Apache License" in zipfile.ZipFile(wheels[0]).read(license_files[0]).decode()


def test_the_wheel_imports_from_the_fresh_venv_and_the_command_runs(fresh_venv: Path) -> None:
    python = fresh_venv / "bin" / "python"
    out = sh(
        python,
        "-c",
        "import kom_async; print(kom_async.__file__); print(kom_async.Clusters.__name__)",
        cwd="/",
    ).stdout.split()
    assert out[0].startswith(str(fresh_venv)) and out[1] == "Clusters"
    help_text = sh(fresh_venv / "bin" / "kom-async", "--help").stdout
    assert "usage: kom-async" in help_text and "clusters" in help_text
    assert "--kubeconfig-dir" in sh(fresh_venv / "bin" / "kom-async", "clusters", "check", "--help").stdout


def test_the_readme_quickstart_passes_with_the_installed_wheel(fresh_venv: Path, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"## Quickstart\n.*?```python\n(.*?)```", readme, re.S)
    assert match, "the README has no Quickstart python block"
    script = tmp_path / "quickstart.py"
    script.write_text(match.group(1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = sh(fresh_venv / "bin" / "python", script, cwd=tmp_path, env=env, timeout=90)
    assert "api-0" in proc.stdout

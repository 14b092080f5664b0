"""The always-registered pytest plugin (and ``kom-async <command> --help``) load no extra:
checked in a child interpreter, once as installed here and once with every extra's modules
made unimportable, as in a core-only install. (tests/cli/test_core_only_install.py does the
same with a real core-only venv; this is the fast check.)"""

from __future__ import annotations

import os
import subprocess
import sys

EXTRA_MODULES = ("moto", "trustme", "jsonpatch", "json_merge_patch", "werkzeug", "mcp", "pydantic", "uvicorn")

# a child prelude that makes the extras' modules unimportable, as if they were not installed
BLOCK = f"""
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRA_MODULES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Absent())
"""


def child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=dict(os.environ),
    )


def test_registering_the_pytest_plugin_imports_no_extra() -> None:
    proc = child(
        "import sys, kom_async.lab.pytest_plugin\n"
        f"print(sorted(m for m in {EXTRA_MODULES!r} if m in sys.modules))\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_lab_names_still_load_on_first_use() -> None:
    proc = child(
        "from kom_async.lab import EKSLab, FakeClock, LabError; import kom_async.lab as l; print(EKSLab.__name__, 'EKSLab' in dir(l))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["EKSLab", "True"]


def test_every_help_works_and_a_missing_extra_is_exit_1_without_the_extras() -> None:
    code = BLOCK + (
        "from kom_async.cli import main\n"
        "import contextlib, io\n"
        "for argv in (['demo', '--help'], ['lab', '--help'], ['mcp', '--help']):\n"
        "    with contextlib.suppress(SystemExit) as done, contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        main(argv)\n"
        "    assert out.getvalue().startswith('usage: kom-async ' + argv[0]), argv\n"
        "print(main(['demo']), main(['mcp']))\n"
    )
    proc = child(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1"]
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("kom-async demo needs the 'lab' extra (")
    assert lines[1].startswith("kom-async mcp needs the 'mcp' extra (")
    for line in lines:
        assert "pip install 'kom-async[" in line and "pip install -e '.[" in line

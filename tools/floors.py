"""Floors that are floors: each direct dependency's declared minimum is what uv's
``--resolution lowest-direct`` actually picks, and ``nox -s lowest`` tests on those versions.

``python tools/floors.py check``: for the core alone and for each extra (core + that extra),
resolve at the lowest direct versions and fail when a direct dependency is not pinned at its
declared floor (no wheel or an impossible combination makes the resolver pick higher: the floor
then claims a version nobody tests). ``python tools/floors.py constraints FILE``: write the pins
of every direct dependency, resolved lowest-direct with all runtime extras together, as a
constraints file for installing the test environment.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("lab", "mcp", "prometheus", "otel", "cli")
PYTHON = "3.11"


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def declared(extra: str | None) -> dict[str, Version]:
    """The direct dependencies of the core (``extra`` None) or of one extra, with their floors."""
    project = _project()
    texts = project["dependencies"] if extra is None else project["optional-dependencies"][extra]  # type: ignore[index]
    found: dict[str, Version] = {}
    for text in texts:  # type: ignore[attr-defined]
        req = Requirement(text)
        if canonicalize_name(req.name) == "kom-async":
            continue
        for spec in req.specifier:
            if spec.operator == ">=":
                found[canonicalize_name(req.name)] = Version(spec.version)
    return found


def resolve(extras: tuple[str, ...]) -> dict[str, Version]:
    """``uv pip compile --resolution lowest-direct`` of the project with ``extras``: name -> pin."""
    uv = shutil.which("uv") or sys.exit("tools/floors.py needs uv on PATH (pip install uv)")
    args = [uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate", "-p", PYTHON]
    args += ["--resolution", "lowest-direct", str(ROOT / "pyproject.toml")]
    for extra in extras:
        args += ["--extra", extra]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    pins: dict[str, Version] = {}
    for line in out.splitlines():
        name, sep, pin = line.partition("==")
        if sep:
            pins[canonicalize_name(name.split("[")[0].strip())] = Version(pin.split(";")[0].strip())
    return pins


def check() -> int:
    bad = 0
    for extra in (None, *EXTRAS):
        pins = resolve(() if extra is None else (extra,))
        for name, floor in sorted(declared(extra).items()):
            picked = pins.get(name)
            ok = picked == floor
            bad += not ok
            mark = "ok  " if ok else "BAD "
            print(f"{mark} {extra or 'core':<10} {name:<22} floor {floor!s:<10} picked {picked}")
    if bad:
        print(
            f"{bad} floor(s) the resolver does not pick: raise each to the version it picks", file=sys.stderr
        )
    return 1 if bad else 0


def constraints(path: Path) -> int:
    pins = resolve(EXTRAS)
    names = set(declared(None)).union(*(declared(e) for e in EXTRAS))
    path.write_text("".join(f"{name}=={pins[name]}\n" for name in sorted(names)))
    print(path.read_text(), end="")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        return check()
    if argv[:1] == ["constraints"] and len(argv) == 2:
        return constraints(Path(argv[1]))
    print("usage: python tools/floors.py check | constraints FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

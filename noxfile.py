"""Developer sessions: tests, lint, typecheck, docs, demo, bench. Run ``nox -l`` to list them."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite but its `slow` group: warnings as errors, a per-test timeout (pyproject.toml),
    the 25 slowest tests and the total time printed.

    Three pytest-xdist workers, a test file each at a time: the tests mostly wait (on the lab,
    exec plugins, subprocesses), so three share 2 cores well; the leak check gathers every
    worker's findings (tests/conftest.py). ``nox -s tests -- -n 0`` runs in one process."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "-m", "not slow", "-n", "3", "--dist", "loadfile", "--durations=25", *session.posargs
    )


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """The whole suite (but `slow`) and the demo on the lowest versions pyproject.toml allows.

    First every floor is checked to be what uv's ``--resolution lowest-direct`` picks, for the
    core alone and for each extra (tools/floors.py check: a floor it cannot pick fails here);
    then the test environment is installed with every direct dependency pinned at the version
    that resolution picks for all runtime extras together (tools/floors.py constraints), and
    the tools the tests need (pytest, awscli...) at whatever fits those pins."""
    session.install("uv", "packaging")
    session.run("python", "tools/floors.py", "check")
    pins = Path(session.create_tmp()) / "floors.txt"
    session.run("python", "tools/floors.py", "constraints", str(pins))
    python = str(Path(session.bin) / "python")
    session.run("uv", "pip", "install", "--python", python, "-e", ".[test]", "-c", str(pins))
    session.run("python", "-m", "pip", "freeze")
    session.run(
        "pytest", "-m", "not slow", "-n", "3", "--dist", "loadfile", "--durations=10", *session.posargs
    )
    session.run("kom-async", "demo")


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """The tests marked `slow` (minutes of real time each); CI runs them after `tests`."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "slow", "--durations=25", *session.posargs)


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """Break the core on purpose, one named mutant at a time on a temporary copy of the repo:
    fails unless every mutant makes its named tests fail (tools/mutants.py; -- -k NAME)."""
    session.install("-e", ".[test]")
    session.run("python", "tools/mutants.py", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", "kom_async", "tests", "benchmarks", "examples", "tools")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[test]", "mypy", "types-PyYAML")
    session.run("mypy", "--strict", "kom_async")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml) built into site/ with warnings as errors; the API
    reference is generated from the docstrings. ``nox -s docs -- serve`` serves it instead."""
    session.install("-e", ".[docs]")
    session.env["NO_MKDOCS_2_WARNING"] = "1"  # Material's banner about its successor, on every run
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The main job: the end-to-end EKS demo on the embedded offline lab."""
    session.install("-e", ".[lab]")
    session.run("kom-async", "demo", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: a full run writes benchmarks/results/ and the README table; --quick, a temp folder."""
    session.install("-e", ".[test,bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)

"""Suite-wide checks, active in every run of any part of the suite:

* every logger at DEBUG goes through the secret-leak detector (tests/leakcheck.py);
* every ``KomError`` built is checked against the secrets known at that moment;
* asyncio's complaints ("Task was destroyed but it is pending", "Unclosed client
  session", never-retrieved exceptions) fail the test that caused them.

A hit fails the test where it can be pinned down, and the whole session at its end.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from leakcheck import detector, exception_texts, hygiene

from kom_async.auth.token import Token
from kom_async.errors import KomError

#: KomErrors whose str/repr showed a known secret: "<type>: contains '<prefix>...'"
error_leaks: list[str] = []


def _learn_secrets() -> None:
    """Teach the detector every token the suite creates and every AWS secret the lab hands out."""
    original = Token.__post_init__

    def learning_post_init(self: Token) -> None:
        original(self)
        detector.learn(self.value)

    Token.__post_init__ = learning_post_init  # type: ignore[method-assign]
    from kom_async.lab import lab as lab_module

    env_for = lab_module.EKSLab.env_for

    def learning_env_for(self: Any, cred: Any) -> dict[str, str]:
        env: dict[str, str] = env_for(self, cred)
        detector.learn(env.get("AWS_SECRET_ACCESS_KEY"))
        detector.learn(env.get("AWS_SESSION_TOKEN"))
        return env

    lab_module.EKSLab.env_for = learning_env_for  # type: ignore[method-assign]


def _check_errors() -> None:
    """Check every KomError, once, as it is built (a long run builds tens of thousands)."""
    original = KomError.__init__

    def checking_init(self: KomError, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        for text in exception_texts(self):
            hit = detector.find(text)
            if hit is not None:
                error_leaks.append(f"{type(self).__name__}: contains {hit!r}")

    KomError.__init__ = checking_init  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    root = logging.getLogger()
    root.addHandler(detector)
    root.setLevel(logging.DEBUG)
    logging.getLogger("asyncio").addHandler(hygiene)
    _learn_secrets()
    _check_errors()


@pytest.fixture(autouse=True)
def _no_leaked_tasks_or_secrets_in_errors() -> Iterator[None]:
    """Fail the test if it leaked a task/session or built an error that shows a secret."""
    hygiene_before, leaks_before = len(hygiene.complaints), len(error_leaks)
    yield
    gc.collect()
    leaks = error_leaks[leaks_before:]
    assert not leaks, f"an exception message or repr shows a secret: {leaks[:3]}"
    new = hygiene.complaints[hygiene_before:]
    assert not new, f"asyncio reported leaked tasks/sessions: {new[:3]}"


@pytest.fixture(autouse=True)
def _private_token_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kom-async eks get-token`` caches tokens under $XDG_CACHE_HOME: never the real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


#: what each xdist worker found, sent to the controller when the worker ends (empty when the
#: suite runs in one process): records scanned, secrets known, and the texts of every hit
worker_reports: list[dict[str, Any]] = []


def _report() -> dict[str, Any]:
    """This process's findings, in the form a worker sends to the controller."""
    return {
        "records": detector.records,
        "secrets": len(detector.secrets),
        "leaks": list(detector.leaks),
        "error_leaks": list(error_leaks),
        "hygiene": list(hygiene.complaints),
    }


def _totals() -> dict[str, Any]:
    """This process's findings plus those of every worker that has ended."""
    total = _report()
    for report in worker_reports:
        for key in ("records", "secrets"):
            total[key] += report[key]
        for key in ("leaks", "error_leaks", "hygiene"):
            total[key] += report[key]
    return total


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """Controller side of pytest-xdist: collect a finished worker's findings."""
    report = getattr(node, "workeroutput", {}).get("kom_leakcheck")
    if report is not None:
        worker_reports.append(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.collect()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller judges the whole run
        workeroutput["kom_leakcheck"] = _report()
        return
    total = _totals()
    if total["leaks"] or total["error_leaks"] or total["hygiene"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if hasattr(terminalreporter.config, "workeroutput"):
        return
    total = _totals()
    workers = f" in {len(worker_reports)} workers" if worker_reports else ""
    write = terminalreporter.write_line
    write(
        f"secret-leak check{workers}: {total['records']} log records scanned at DEBUG, "
        f"{total['secrets']} secrets known, {len(total['leaks'])} leaks; "
        f"{len(total['error_leaks'])} errors showing a secret"
    )
    write(f"asyncio hygiene check: {len(total['hygiene'])} leaked tasks/sessions/connectors reported")
    for leak in total["leaks"][:20]:
        write(f"  LEAK {leak}")
    for text in total["error_leaks"][:20]:
        write(f"  ERROR LEAK {text}")
    for text in total["hygiene"][:20]:
        write(f"  HYGIENE {text}")

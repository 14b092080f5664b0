"""Reliability suite fixtures, plus two checks that watch every test of the run.

* asyncio hygiene: "Task was destroyed but it is pending", "Unclosed client session",
  "Unclosed connector" and never-retrieved task/future exceptions are reported through the
  ``asyncio`` logger (or an exception handler); once this conftest is loaded they fail the
  reliability test that caused them, and the whole session at its end.
* secrets in exceptions: every ``KomError`` built from then on (in any test directory) is
  checked against the secrets the suite-wide leak detector knows at that moment; a hit
  fails the reliability test that built it, and the whole session at its end.

Both checks live here because this directory is the reliability suite's; moving the two
module-level installs into tests/conftest.py would make them cover every run of the suite.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from leakcheck import detector
from reliability_helpers import exception_texts, hygiene

from kom_async.errors import KomError
from kom_async.lab import EKSLab

#: KomErrors whose str/repr showed a known secret: "<type>: contains '<prefix>...'"
error_leaks: list[str] = []
_original_init = KomError.__init__


def _checking_init(self: KomError, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    # check at once and keep only hits: a long run builds tens of thousands of errors
    for text in exception_texts(self):
        hit = detector.find(text)
        if hit is not None:
            error_leaks.append(f"{type(self).__name__}: contains {hit!r}")


KomError.__init__ = _checking_init  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.collect()
    if hygiene.complaints or error_leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"asyncio hygiene check: {len(hygiene.complaints)} leaked tasks/sessions/connectors reported; "
        f"error secret check: {len(error_leaks)} KomErrors showing a secret"
    )
    for text in hygiene.complaints[:20]:
        terminalreporter.write_line(f"  HYGIENE {text}")
    for text in error_leaks[:20]:
        terminalreporter.write_line(f"  ERROR LEAK {text}")


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


@pytest.fixture
async def lab() -> AsyncIterator[EKSLab]:
    """A running lab for one test (real clock)."""
    async with EKSLab() as the_lab:
        yield the_lab

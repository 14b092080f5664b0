"""Reliability suite fixtures, plus two checks that watch every test of the run.

* asyncio hygiene: "Task was destroyed but it is pending", "Unclosed client session",
  "Unclosed connector" and never-retrieved task/future exceptions are reported through the
  ``asyncio`` logger (or an exception handler); once this conftest is loaded they fail the
  reliability test that caused them, and the whole session at its end.
* secrets in exceptions: every ``KomError`` built during a reliability test is checked
  against the secrets the suite-wide leak detector knows.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from leakcheck import detector
from reliability_helpers import HYGIENE, exception_texts

from kom_async.errors import KomError
from kom_async.lab import EKSLab


class AsyncioHygiene(logging.Handler):
    """Collects the asyncio complaints that mean a task, session or connector was leaked."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.complaints: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            return
        if any(p in text for p in HYGIENE):
            self.complaints.append(text.splitlines()[0][:300])


hygiene = AsyncioHygiene()
logging.getLogger("asyncio").addHandler(hygiene)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.collect()
    if hygiene.complaints:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(
        f"asyncio hygiene check: {len(hygiene.complaints)} leaked tasks/sessions/connectors reported"
    )
    for text in hygiene.complaints[:20]:
        terminalreporter.write_line(f"  HYGIENE {text}")


@pytest.fixture(autouse=True)
def _no_leaked_tasks_or_secrets_in_errors() -> Iterator[None]:
    """Fail the test if it leaked a task/session or built an error that shows a secret."""
    before = len(hygiene.complaints)
    original = KomError.__init__
    leaks: list[str] = []

    def recording_init(self: KomError, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # check at once and keep only hits: a long run builds tens of thousands of errors
        leaks.extend(hit for text in exception_texts(self) if (hit := detector.find(text)))

    KomError.__init__ = recording_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        KomError.__init__ = original  # type: ignore[method-assign]
    gc.collect()
    assert not leaks, f"an exception message or repr shows a secret: {leaks[:3]}"
    new = hygiene.complaints[before:]
    assert not new, f"asyncio reported leaked tasks/sessions: {new[:3]}"


@pytest.fixture
async def lab() -> AsyncIterator[EKSLab]:
    """A running lab for one test (real clock)."""
    async with EKSLab() as the_lab:
        yield the_lab

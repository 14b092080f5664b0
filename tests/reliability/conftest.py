"""Reliability suite fixtures (the suite-wide leak and hygiene checks live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from reliability_helpers import FUZZ_EXAMPLES

from kom_async.lab import EKSLab


@pytest.fixture
async def lab() -> AsyncIterator[EKSLab]:
    """A running lab for one test (real clock)."""
    async with EKSLab() as the_lab:
        yield the_lab


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many examples each fuzz target ran (a report, not a check)."""
    if FUZZ_EXAMPLES:
        terminalreporter.write_line(
            "fuzz examples: " + ", ".join(f"{k}: {v}" for k, v in sorted(FUZZ_EXAMPLES.items()))
        )

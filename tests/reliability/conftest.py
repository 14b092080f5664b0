"""Reliability suite fixtures (the suite-wide leak and hygiene checks live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kom_async.lab import EKSLab


@pytest.fixture
async def lab() -> AsyncIterator[EKSLab]:
    """A running lab for one test (real clock)."""
    async with EKSLab() as the_lab:
        yield the_lab

"""Fixtures for the example tests: a fresh offline lab per test (it starts in well under a second)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kom_async.lab import EKSLab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


@pytest.fixture
async def lab() -> AsyncIterator[EKSLab]:
    async with EKSLab() as the_lab:
        yield the_lab

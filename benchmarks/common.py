"""Shared pieces of the benchmark suite: settings, results, statistics and clocks."""

from __future__ import annotations

import asyncio
import gc
import math
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kom_async.lab import FakeClock

__all__ = [
    "BenchConfig",
    "CountingClock",
    "ScenarioResult",
    "median",
    "no_gc",
    "percentile",
    "settle",
]


@dataclass(frozen=True)
class BenchConfig:
    """How big a run is: ``quick`` shrinks every scenario so the suite fits in a minute."""

    quick: bool = False

    def pick(self, full: int, quick: int) -> int:
        """``full`` normally, ``quick`` in quick mode."""
        return quick if self.quick else full


@dataclass
class ScenarioResult:
    """What one scenario measured: a headline, the target verdict, table rows and raw metrics."""

    name: str
    title: str
    headline: str = ""
    target: str = ""
    target_met: bool | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return float(statistics.median(values)) if values else math.nan


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest-rank."""
    if not sorted_values:
        return math.nan
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[rank])


@contextmanager
def no_gc() -> Iterator[None]:
    """Collect, then keep the garbage collector out of a timed section."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class CountingClock(FakeClock):
    """The lab's ``FakeClock`` (virtual time) recording every sleep: task name, when, until when.

    The refresh loop sleeps once per wake-up, so completed sleeps of tasks named
    ``kom-async:refresh:<id>`` are exactly the refresh loop's event-loop wake-ups.
    """

    def __init__(self) -> None:
        super().__init__()
        self.wakeups: Counter[str] = Counter()
        self.deadlines: list[tuple[str, float, float]] = []  # (task, asked at, due at)

    def reset(self) -> None:
        """Forget what was counted so far."""
        self.wakeups.clear()
        self.deadlines.clear()

    async def sleep(self, seconds: float) -> None:
        """Sleep in virtual time and count the wake-up against the current task."""
        task = asyncio.current_task()
        name = task.get_name() if task is not None else "?"
        now = self.time()
        self.deadlines.append((name, now, now + max(0.0, seconds)))
        await super().sleep(seconds)
        self.wakeups[name] += 1


async def settle(clock: FakeClock, sleepers: int, *, limit: float = 10.0) -> None:
    """Run the loop until ``sleepers`` tasks sleep on ``clock`` again (or ``limit`` s pass)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    spins = 0
    while clock.sleepers < sleepers and loop.time() < deadline:
        spins += 1
        # mostly pure-CPU work (presigning) is pending: spin; if I/O is involved, let it run
        await asyncio.sleep(0 if spins < 200 else 0.001)

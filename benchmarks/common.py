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

from kom_async import Clusters
from kom_async.auth.wakeups import Wakeups
from kom_async.lab import FakeClock

__all__ = [
    "BenchConfig",
    "CountingWakeups",
    "ScenarioResult",
    "judge",
    "median",
    "median_ci",
    "no_gc",
    "percentile",
    "set_verdict",
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
    conditions: str = ""  # what ran, where and how: warm/cold, process/in-process, the peers
    target: str = ""
    target_met: bool | None = None  # None: not resolved (or no target); see ``verdict``
    verdict: str = ""  # "met", "missed", "not resolved" (noise band straddles the target) or ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return float(statistics.median(values)) if values else math.nan


def median_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval of the median: order statistics chosen with the
    binomial distribution, so no assumption about how timings are distributed. With too few
    values for ``confidence`` it widens to the full range (min, max)."""
    xs = sorted(values)
    n = len(xs)
    if n == 0:
        return math.nan, math.nan
    alpha = 1 - confidence
    j = 0  # the largest j with P(Binomial(n, 1/2) <= j - 1) <= alpha / 2
    tail = 0.0
    for k in range(n):
        tail += math.comb(n, k) / 2**n
        if tail > alpha / 2:
            break
        j = k + 1
    if j == 0:
        return float(xs[0]), float(xs[-1])
    return float(xs[j - 1]), float(xs[n - j])


def judge(low: float, high: float, target: float, *, higher_is_better: bool = False) -> str:
    """ "met" only when the whole band [low, high] clears ``target``, "missed" when none of it
    does, otherwise "not resolved": the measurement cannot tell."""
    if higher_is_better:
        low, high, target = -high, -low, -target
    if high <= target:
        return "met"
    if low > target:
        return "missed"
    return "not resolved"


def set_verdict(result: ScenarioResult, verdict: str) -> None:
    """Record a verdict string and the matching ``target_met`` (None when not resolved)."""
    result.verdict = verdict
    result.target_met = {"met": True, "missed": False}.get(verdict)


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


class CountingWakeups(Wakeups):
    """A registry's refresh timer (``Wakeups``) recording every sleep: task name, when, until
    when. The refresh loop sleeps once per wake-up, so completed sleeps of tasks named
    ``kom-async:refresh:<id>`` are exactly the refresh loop's event-loop wake-ups.
    """

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.clock = clock
        self.wakeups: Counter[str] = Counter()
        self.deadlines: list[tuple[str, float, float]] = []  # (task, asked at, due at)

    @classmethod
    def installed(cls, clusters: Clusters, clock: FakeClock) -> CountingWakeups:
        """One installed as ``clusters``' timer (before any cluster is registered)."""
        counting = cls(clock)
        clusters._connector._wakeups = counting
        return counting

    def reset(self) -> None:
        """Forget what was counted so far."""
        self.wakeups.clear()
        self.deadlines.clear()

    async def sleep(self, seconds: float) -> None:
        """Sleep in virtual time and count the wake-up against the current task."""
        task = asyncio.current_task()
        name = task.get_name() if task is not None else "?"
        now = self.clock.time()
        self.deadlines.append((name, now, now + max(0.0, seconds)))
        await super().sleep(seconds)
        self.wakeups[name] += 1


async def settle(wakeups: Wakeups, sleepers: int, *, limit: float = 10.0) -> None:
    """Run the loop until ``sleepers`` refresh loops sleep on ``wakeups`` again (or ``limit`` s pass)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    spins = 0
    while len(wakeups) < sleepers and loop.time() < deadline:
        spins += 1
        # mostly pure-CPU work (presigning) is pending: spin; if I/O is involved, let it run
        await asyncio.sleep(0 if spins < 200 else 0.001)

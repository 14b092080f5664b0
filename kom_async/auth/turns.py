"""Turns: CPU-heavy steps spread over event-loop iterations instead of run back to back.

asyncio runs every task that is ready in one loop iteration, so 64 registrations (or 10,000
refreshes that fall due together) would each run their parsing, TLS set-up or signing before
any timer or socket is served again. A step that awaits ``turn()`` first runs at once while
its iteration has spent less than ``budget`` seconds on turns; otherwise it waits, first come
first served, and one waiting step is let through per later iteration (with more as budget
allows), so the loop stays responsive however many steps fall due together.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

#: seconds of turn-taking steps one loop iteration may start before the next ones wait
DEFAULT_BUDGET = 0.002


class LoopTurns:
    """One per registry (per event loop): ``await turns.turn()`` before a CPU-heavy step."""

    def __init__(self, budget: float = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._started: float | None = None  # when this iteration's first turn began
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def turn(self) -> None:
        """Return when this task may run its heavy step (at once, or in a later iteration)."""
        now = time.perf_counter()
        if self._started is None:
            self._begin(now)
            return
        if not self._waiters and now - self._started < self.budget:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # it was this one's turn: pass it on
            raise
        if self._started is None:
            self._begin(time.perf_counter())

    def _begin(self, now: float) -> None:
        self._started = now
        asyncio.get_running_loop().call_soon(self._next_iteration)

    def _next_iteration(self) -> None:
        self._started = None
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

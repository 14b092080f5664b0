"""A fake clock for tests: virtual time that moves only when a test says so.

``FakeClock`` satisfies :class:`kom_async.auth.clock.Clock`; a refresh loop that
sleeps on it wakes exactly when a test calls :meth:`FakeClock.advance` past its deadline,
so "wait 15 minutes" takes no real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Virtual UTC time: ``now()``, ``advance(seconds)`` and an ``async sleep`` that waits for it.

    ``sleep(s)`` returns once virtual time has been advanced by at least ``s`` seconds
    (``sleep(0)`` or a negative value yields once and returns). Use :meth:`advance` to
    move time forward; it wakes every sleeper whose deadline has passed.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        """The current virtual time (aware UTC)."""
        return self._now

    def time(self) -> float:
        """The current virtual time as POSIX seconds (what ``TokenProvider`` reads)."""
        return self._now.timestamp()

    def advance(self, seconds: float) -> datetime:
        """Move virtual time forward by ``seconds`` and wake the sleepers now due."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (must not be in the virtual past) and wake who is due."""
        return self.advance((when - self._now).total_seconds())

    @property
    def sleepers(self) -> int:
        """How many tasks are currently sleeping on this clock (handy to sync tests)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def sleep(self, seconds: float) -> None:
        """Wait until virtual time has advanced by ``seconds``."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + timedelta(seconds=seconds), next(self._seq), fut))
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()

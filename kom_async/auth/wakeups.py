"""Wake-ups: the timed sleeps of many refresh loops kept on one timer, woken a batch per
event-loop iteration.

With one timer per cluster, every refresh that falls due at the same instant (10,000 tokens
minted together, or a laptop resumed after an hour) wakes in one loop iteration and runs
before any socket or timer is served again. Here one task sleeps until the earliest deadline
and then wakes at most ``per_iteration`` due sleepers per iteration, earliest first.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from kom_async.auth.clock import Clock

#: sleepers woken per loop iteration at most
PER_ITERATION = 16
#: a deadline this close counts as due (a virtual clock keeps time in microseconds)
_EARLY = 0.001


class _Driver:
    """The task that sleeps until the earliest deadline and wakes who is due, and its timer."""

    def __init__(self, wakeups: Wakeups) -> None:
        self.next = float("inf")
        self.timer: asyncio.Future[None] | None = None
        self.task = asyncio.get_running_loop().create_task(wakeups._run(self), name="kom-async:wakeups")

    def replan(self, deadline: float) -> None:
        """A sleeper due before the timer fires arrived: cut the timer short."""
        if deadline < self.next and self.timer is not None:
            self.timer.cancel()


class Wakeups:
    """One per registry: ``await wakeups.sleep(seconds)`` instead of ``clock.sleep``. Its task
    runs only while someone sleeps: the last sleeper to leave ends it (and waits for that), and
    the registry's ``aclose()`` awaits ``aclose()``."""

    def __init__(self, clock: Clock, per_iteration: int = PER_ITERATION) -> None:
        self._clock = clock
        self.per_iteration = per_iteration
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._driver: _Driver | None = None
        self._closed = False
        self._live = 0

    def __len__(self) -> int:
        """Sleepers still asleep: not woken, and not yet due on the clock (as a virtual
        clock's ``sleepers`` counts them right after it is advanced)."""
        now = self._clock.time() + _EARLY
        return sum(1 for deadline, _, fut in self._heap if deadline > now and not fut.done())

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` of the clock's time have passed and it is this one's turn."""
        if self._closed:
            await self._clock.sleep(seconds)
            return
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._clock.time() + seconds
        heapq.heappush(self._heap, (deadline, next(self._seq), fut))
        if self._driver is None:
            self._driver = _Driver(self)
        else:
            self._driver.replan(deadline)
        self._live += 1
        try:
            await fut
        finally:
            self._live -= 1
            if not fut.done():
                fut.cancel()  # left in the heap, skipped when it reaches the front
            if self._live == 0:
                await self._stop()  # nobody sleeps: no task left running
        if self._closed:  # woken by aclose(): the rest of the time on the clock itself
            await self._clock.sleep(deadline - self._clock.time())

    async def _run(self, driver: _Driver) -> None:
        heap = self._heap
        try:
            while True:
                while heap and heap[0][2].done():
                    heapq.heappop(heap)
                if not heap:
                    return
                delay = heap[0][0] - self._clock.time()
                if delay > _EARLY:
                    driver.next = heap[0][0]
                    driver.timer = asyncio.ensure_future(self._clock.sleep(delay))
                    await asyncio.wait([driver.timer])  # done, or cut short by an earlier deadline
                    driver.timer, driver.next = None, float("inf")
                    continue
                self._wake_due()
                await asyncio.sleep(0)  # the woken run in the next iteration, then the next batch
        finally:
            if driver.timer is not None:
                driver.timer.cancel()
            if self._driver is driver:
                self._driver = None

    def _wake_due(self) -> None:
        heap, now, woken = self._heap, self._clock.time() + _EARLY, 0
        while heap and woken < self.per_iteration and heap[0][0] <= now:
            fut = heapq.heappop(heap)[2]
            if not fut.done():
                fut.set_result(None)
                woken += 1

    async def _stop(self) -> None:
        driver, self._driver = self._driver, None
        if driver is None or driver.task.done():
            return
        driver.task.cancel()
        try:
            await driver.task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this task is cancelled too (a sleeper leaving): let that go on

    async def aclose(self) -> None:
        """End the timer task; later sleeps use the clock directly."""
        self._closed = True
        await self._stop()
        for _, _, fut in self._heap:
            if not fut.done():
                fut.set_result(None)  # whoever still sleeps sleeps the rest on the clock
        self._heap.clear()

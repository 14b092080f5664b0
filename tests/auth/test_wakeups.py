"""The registry's one refresh timer: sleepers due together are woken a batch per loop
iteration, earliest first, on the virtual clock; it leaves no task behind."""

from __future__ import annotations

import asyncio

from kom_async.auth.wakeups import Wakeups
from kom_async.lab import FakeClock


class IterationCounter:
    """Counts event-loop iterations: one callback re-scheduled with call_soon per iteration."""

    def __init__(self) -> None:
        self.count = 0
        self._handle: asyncio.Handle | None = None

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


async def until(condition: object, spins: int = 10_000) -> None:
    for _ in range(spins):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never came true")


async def test_sleepers_due_together_wake_a_batch_per_loop_iteration() -> None:
    clock = FakeClock()
    wakeups = Wakeups(clock, per_iteration=16)
    counter = IterationCounter()
    woke_at: list[int] = []

    async def sleeper(seconds: float) -> None:
        await wakeups.sleep(seconds)
        woke_at.append(counter.count)

    tasks = [asyncio.create_task(sleeper(60 + i % 7)) for i in range(1000)]
    await until(lambda: len(wakeups) == 1000)
    counter.start()
    clock.advance(3600)  # every deadline passed at once, as after a suspended laptop resumes
    await until(lambda: len(woke_at) == 1000)
    counter.stop()
    await asyncio.gather(*tasks)
    per_iteration: dict[int, int] = {}
    for iteration in woke_at:
        per_iteration[iteration] = per_iteration.get(iteration, 0) + 1
    assert max(per_iteration.values()) <= 16
    assert len(per_iteration) >= 1000 // 16
    await wakeups.aclose()


async def test_they_wake_earliest_first_and_not_before_their_deadline() -> None:
    clock = FakeClock()
    wakeups = Wakeups(clock, per_iteration=2)
    order: list[int] = []

    async def sleeper(seconds: int) -> None:
        await wakeups.sleep(seconds)
        order.append(seconds)

    tasks = [asyncio.create_task(sleeper(s)) for s in (300, 100, 200, 50, 400)]
    await until(lambda: len(wakeups) == 5)
    clock.advance(250)
    await until(lambda: len(order) == 3)
    assert order == [50, 100, 200]
    for _ in range(20):
        await asyncio.sleep(0)
    assert order == [50, 100, 200]  # 300 and 400 are not due yet
    clock.advance(200)
    await asyncio.gather(*tasks)
    assert order == [50, 100, 200, 300, 400]
    await wakeups.aclose()


async def test_an_earlier_sleeper_cuts_the_timer_short() -> None:
    clock = FakeClock()
    wakeups = Wakeups(clock)
    late = asyncio.create_task(wakeups.sleep(3600))
    await until(lambda: clock.sleepers == 1)
    early = asyncio.create_task(wakeups.sleep(10))
    await until(lambda: len(wakeups) == 2)
    clock.advance(11)
    await asyncio.wait_for(early, 5)
    assert not late.done()
    late.cancel()
    await asyncio.gather(late, return_exceptions=True)
    await wakeups.aclose()


async def test_the_last_sleeper_to_leave_ends_the_timer_task() -> None:
    clock = FakeClock()
    wakeups = Wakeups(clock)
    sleepers = [asyncio.create_task(wakeups.sleep(60)) for _ in range(3)]
    await until(lambda: len(wakeups) == 3 and clock.sleepers == 1)  # the timer waits on the clock
    timers = [t for t in asyncio.all_tasks() if t.get_name() == "kom-async:wakeups"]
    assert len(timers) == 1
    for task in sleepers:
        task.cancel()
    await asyncio.gather(*sleepers, return_exceptions=True)
    assert timers[0].done()  # at once: nothing left running once nobody sleeps
    assert clock.sleepers == 0
    again = asyncio.create_task(wakeups.sleep(5))  # and a later sleep starts a new one
    await until(lambda: clock.sleepers == 1)
    clock.advance(5)
    await asyncio.wait_for(again, 5)
    await wakeups.aclose()


async def test_after_aclose_a_sleeper_sleeps_the_rest_on_the_clock() -> None:
    clock = FakeClock()
    wakeups = Wakeups(clock)
    sleeper = asyncio.create_task(wakeups.sleep(100))
    await until(lambda: len(wakeups) == 1)
    clock.advance(40)
    await wakeups.aclose()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "kom-async:wakeups" and not t.done()]
    await until(lambda: clock.sleepers == 1)
    assert not sleeper.done()
    clock.advance(59)
    for _ in range(10):
        await asyncio.sleep(0)
    assert not sleeper.done()
    clock.advance(1)
    await asyncio.wait_for(sleeper, 5)

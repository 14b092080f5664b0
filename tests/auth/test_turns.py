"""Turns of the event loop (issue 24): CPU-heavy steps that fall due together — registrations,
a wave of refreshes — are let through a few per loop iteration, so timers and sockets are
served between them. Counted in loop iterations, never in wall-clock time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from kom_async.auth.turns import LoopTurns


@contextmanager
def iteration_counter() -> Iterator[list[int]]:
    """``[n]``: how many loop iterations have begun (a callback re-queued every iteration)."""
    loop = asyncio.get_running_loop()
    count = [0]
    running = True

    def tick() -> None:
        count[0] += 1
        if running:
            loop.call_soon(tick)

    loop.call_soon(tick)
    try:
        yield count
    finally:
        running = False


async def test_steps_that_fall_due_together_run_one_per_loop_iteration() -> None:
    turns = LoopTurns(budget=0.0)  # no budget: every step after the first waits its turn
    seen: list[int] = []
    with iteration_counter() as iteration:

        async def step() -> None:
            await turns.turn()
            seen.append(iteration[0])

        await asyncio.gather(*(step() for _ in range(20)))
    assert len(seen) == 20 and len(set(seen)) == 20  # twenty iterations, one step in each
    assert seen == sorted(seen)  # first come, first served


async def test_light_steps_share_an_iteration_within_the_budget() -> None:
    turns = LoopTurns(budget=3600.0)  # a budget no step exhausts
    seen: list[int] = []
    with iteration_counter() as iteration:

        async def step() -> None:
            await turns.turn()
            seen.append(iteration[0])

        await asyncio.gather(*(step() for _ in range(20)))
    assert len(set(seen)) == 1


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    turns = LoopTurns(budget=0.0)
    await turns.turn()  # this iteration's turn is taken
    waiting = [asyncio.create_task(turns.turn()) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[1].cancel()  # waiting, or already woken: either way the last one gets its turn
    await waiting[2]  # not stuck behind the cancelled one (the test timeout bounds it)
    await asyncio.gather(*waiting, return_exceptions=True)

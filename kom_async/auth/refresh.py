"""The per-cluster background task that renews a token shortly before it expires.

It sleeps until the next deadline (one wake-up per token lifetime), spreads deadlines with
jitter so many clusters do not refresh together, and retries failures with capped
exponential backoff while the still-valid token keeps serving requests. Every one of those
times is the provider's ``RefreshPolicy`` (``auth/timing.py``).
"""

from __future__ import annotations

import asyncio
import logging

from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.provider import TokenProvider
from kom_async.auth.turns import LoopTurns
from kom_async.auth.wakeups import Wakeups
from kom_async.errors import KomError

log = logging.getLogger("kom_async.auth")


async def refresh_loop(
    provider: TokenProvider,
    *,
    clock: Clock | None = None,
    turns: LoopTurns | None = None,
    wakeups: Wakeups | None = None,
) -> None:
    """Keep ``provider``'s token fresh until cancelled, on the timing of its policy; with
    ``wakeups`` (the registry's one timer), refreshes that fall due together wake a batch per
    loop iteration, and with ``turns`` their signing takes turns of the loop."""
    clock = clock or system_clock
    sleep = wakeups.sleep if wakeups is not None else clock.sleep
    failures = 0
    token = provider.token
    while True:
        if failures == 0:
            token = provider.token
            delay = provider.refresh_delay(clock.time())
            if delay is None:
                return  # a token without expiry is renewed only after a 401
            if delay > 0:
                await sleep(delay)
        # after a failure, retry as soon as the backoff is over: re-planning from the
        # shrinking remaining lifetime would push the retry later than the backoff says
        if provider.token is not token:
            failures = 0
            continue  # someone (a 401 recovery) already renewed it; plan from the new one
        if turns is not None:
            await turns.turn()
            if provider.token is not token:
                continue  # renewed while this one waited for its turn
        try:
            await provider.refresh(token)
        except KomError as exc:
            failures += 1
            wait = provider.policy.backoff(failures)
            log.warning(
                "background token refresh for %s failed (attempt %d), retrying in %.1f s: %s",
                provider.name,
                failures,
                wait,
                exc,
                extra=provider.log_extra,
            )
            await sleep(wait)
        else:
            failures = 0


def start_refresh_task(
    provider: TokenProvider,
    *,
    cluster_id: str,
    clock: Clock | None = None,
    turns: LoopTurns | None = None,
    wakeups: Wakeups | None = None,
) -> asyncio.Task[None]:
    """Start the refresh loop as a task named ``kom-async:refresh:<cluster id>``."""
    return asyncio.get_running_loop().create_task(
        refresh_loop(provider, clock=clock, turns=turns, wakeups=wakeups),
        name=f"kom-async:refresh:{cluster_id}",
    )

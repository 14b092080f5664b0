"""The per-cluster background task that renews a token shortly before it expires.

It sleeps until the next deadline (one wake-up per token lifetime), spreads deadlines with
jitter so many clusters do not refresh together, and retries failures with capped
exponential backoff while the still-valid token keeps serving requests.
"""

from __future__ import annotations

import asyncio
import logging
import random

from kom_async.auth.clock import Clock, system_clock
from kom_async.auth.provider import TokenProvider
from kom_async.auth.turns import LoopTurns
from kom_async.errors import KomError

log = logging.getLogger("kom_async.auth")


class RefreshPolicy:
    """When to refresh and how to back off; ``jitter`` is a fraction of the lifetime."""

    def __init__(
        self,
        *,
        lead: float = 60.0,
        jitter: float = 0.1,
        max_jitter: float = 60.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.lead = lead
        self.jitter = jitter
        self.max_jitter = max_jitter
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rng = rng or random.Random()

    def delay_until_refresh(self, provider: TokenProvider, now: float) -> float | None:
        """Seconds until the cached token should be renewed (None: it never expires)."""
        refresh_at = provider.refresh_at
        if refresh_at is None:
            return None
        token = provider.token
        lifetime = 0.0
        if token is not None and token.expires_at is not None:
            lifetime = max(0.0, token.expires_at.timestamp() - now)
        # renew a little before the advisory window opens, so requests never wait;
        # the random part spreads 1,000 clusters over up to a minute
        lead = min(self.lead, lifetime * 0.1)
        spread = self.rng.uniform(0.0, min(self.max_jitter, lifetime * self.jitter))
        return max(0.0, refresh_at - now - lead - spread)

    def backoff(self, failures: int) -> float:
        """Capped exponential backoff with full jitter on the upper half."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (failures - 1))
        return float(ceiling / 2 + self.rng.uniform(0.0, ceiling / 2))


async def refresh_loop(
    provider: TokenProvider,
    *,
    policy: RefreshPolicy | None = None,
    clock: Clock | None = None,
    turns: LoopTurns | None = None,
) -> None:
    """Keep ``provider``'s token fresh until cancelled; with ``turns``, refreshes that fall due
    together take turns of the event loop instead of all running in one iteration."""
    policy = policy or RefreshPolicy()
    clock = clock or system_clock
    failures = 0
    token = provider.token
    while True:
        if failures == 0:
            token = provider.token
            delay = policy.delay_until_refresh(provider, clock.time())
            if delay is None:
                return  # a token without expiry is renewed only after a 401
            if delay > 0:
                await clock.sleep(delay)
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
            wait = policy.backoff(failures)
            log.warning(
                "background token refresh for %s failed (attempt %d), retrying in %.1f s: %s",
                provider.name,
                failures,
                wait,
                exc,
                extra=provider.log_extra,
            )
            await clock.sleep(wait)
        else:
            failures = 0


def start_refresh_task(
    provider: TokenProvider,
    *,
    cluster_id: str,
    policy: RefreshPolicy | None = None,
    clock: Clock | None = None,
    turns: LoopTurns | None = None,
) -> asyncio.Task[None]:
    """Start the refresh loop as a task named ``kom-async:refresh:<cluster id>``."""
    return asyncio.get_running_loop().create_task(
        refresh_loop(provider, policy=policy, clock=clock, turns=turns),
        name=f"kom-async:refresh:{cluster_id}",
    )

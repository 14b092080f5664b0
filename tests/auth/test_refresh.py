"""The background refresh task: one wake-up per token lifetime, jitter, backoff, recovery."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from auth_helpers import CountingSource, network_error

from kom_async import RefreshPolicy, TokenProvider
from kom_async.auth.refresh import start_refresh_task
from kom_async.lab import FakeClock


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


class CountingClock(FakeClock):
    """A FakeClock that counts how often anything slept on it (event-loop wake-ups)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        await super().sleep(seconds)


async def test_the_token_is_renewed_before_expiry_with_one_wakeup_per_lifetime() -> None:
    clock = CountingClock()
    source = CountingSource(clock)  # type: ignore[arg-type]
    provider = TokenProvider(source, name="r1", policy=RefreshPolicy(rng=random.Random(1)), clock=clock)
    await provider.get_token()
    task = start_refresh_task(provider, cluster_id="r1", clock=clock)
    assert task.get_name() == "kom-async:refresh:r1"
    await settle()
    for _ in range(24 * 60):  # one simulated day, minute by minute
        clock.advance(60)
        await settle()
        token = await provider.get_token()
        assert token.expires_at is not None and (token.expires_at - clock.now()).total_seconds() > 60
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # 14-minute tokens renewed ~9-10 minutes in: about 150 a day, one sleep each
    assert 140 <= source.fetches <= 165
    assert clock.sleeps <= source.fetches + 1
    await provider.aclose()


async def test_refresh_deadlines_of_many_clusters_are_spread_by_jitter() -> None:
    clock = FakeClock()
    policy = RefreshPolicy(rng=random.Random(7))
    delays = []
    for i in range(200):
        provider = TokenProvider(CountingSource(clock), name=f"c{i}", policy=policy, clock=clock)  # type: ignore[arg-type]
        await provider.get_token()
        delay = provider.refresh_delay(clock.time())
        assert delay is not None
        delays.append(delay)
        await provider.aclose()
    assert max(delays) - min(delays) > 45  # spread over most of a minute
    assert all(500 < d < 600 for d in delays)  # all before the advisory window (11 min)


async def test_failures_back_off_and_log_once_per_attempt_then_recover(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    source = CountingSource(clock)  # type: ignore[arg-type]
    policy = RefreshPolicy(rng=random.Random(3), backoff_base=1.0, backoff_cap=8.0)
    provider = TokenProvider(source, name="flaky", policy=policy, clock=clock, is_eks=True)
    first = await provider.get_token()
    task = start_refresh_task(provider, cluster_id="flaky", clock=clock)
    source.fail = network_error()
    caplog.set_level(logging.WARNING, logger="kom_async.auth")
    await settle()  # let the task go to sleep on its deadline
    clock.advance(600)  # past the refresh deadline: first attempt fails
    await settle()
    for _ in range(6):  # 1, 2, 4, 8, 8, 8 s of backoff at most
        clock.advance(8)
        await settle()
    attempts = source.fetches - 1
    assert 4 <= attempts <= 7
    assert await provider.get_token() is first  # still valid: requests keep working
    retry_logs = [r for r in caplog.records if "background token refresh for flaky failed" in r.getMessage()]
    assert len(retry_logs) == attempts
    source.fail = None
    clock.advance(8)  # within one backoff interval of the source coming back
    await settle()
    assert provider.token is not first
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await provider.aclose()

"""All refresh timing in one ``RefreshPolicy`` (``kom_async/auth/timing.py``): the windows and
their scaling for short-lived tokens, the provider's fail-fast time and the refresh loop's
backoff, each read from the policy the provider holds; the get-token cache margin is its window."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from kom_async import RefreshPolicy, Token, TokenProvider
from kom_async.auth.eks.token_cache import TokenCache
from kom_async.auth.refresh import start_refresh_task
from kom_async.auth.timing import ADVISORY_WINDOW, MANDATORY_WINDOW
from kom_async.errors import EKSAuthError, EKSAuthErrorKind
from kom_async.lab import FakeClock


class Source:
    """Tokens of ``lifetime`` seconds on the virtual clock; ``fail`` makes fetches fail."""

    kind = "test"

    def __init__(self, clock: FakeClock, lifetime: float) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.fetches = 0
        self.fail = False

    async def fetch(self) -> Token:
        self.fetches += 1
        if self.fail:
            raise EKSAuthError(EKSAuthErrorKind.NetworkError, "STS unreachable")
        return Token(f"tok-{self.fetches}-secretvalue", self.clock.now() + timedelta(seconds=self.lifetime))

    async def aclose(self) -> None:
        return None


class RecordingClock(FakeClock):
    """A FakeClock that records every sleep asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_a_fourteen_minute_token_is_refreshed_three_minutes_and_waited_for_one_minute_before_expiry() -> None:
    policy = RefreshPolicy()
    assert (ADVISORY_WINDOW, MANDATORY_WINDOW) == (180.0, 60.0)
    assert policy.deadlines(10_000.0, 840.0) == (10_000.0 - 180.0, 10_000.0 - 60.0)
    # a short-lived token's windows shrink to a quarter and a tenth of its lifetime
    assert policy.deadlines(10_000.0, 120.0) == (10_000.0 - 30.0, 10_000.0 - 12.0)
    # the get-token cache stops serving a token where the provider starts refreshing it
    assert TokenCache().margin == policy.advisory_window == ADVISORY_WINDOW
    with pytest.raises(ValueError, match="mandatory_window <= advisory_window"):
        RefreshPolicy(advisory_window=30.0)


async def test_a_two_minute_token_is_used_before_it_is_refreshed() -> None:
    clock = FakeClock()
    source = Source(clock, lifetime=120.0)
    provider = TokenProvider(source, clock=clock)
    first = await provider.get_token()
    assert await provider.get_token() is first
    await settle()
    assert source.fetches == 1  # not refreshed on arrival, though 120 s < the 180 s window
    clock.advance(89)
    assert await provider.get_token() is first
    await settle()
    assert source.fetches == 1
    clock.advance(2)  # 91 s: inside its (scaled) advisory window of 30 s
    assert await provider.get_token() is first
    await settle()
    assert source.fetches == 2
    await provider.aclose()


async def test_after_failed_fetches_callers_fail_fast_for_the_policys_growing_time() -> None:
    clock = FakeClock()
    source = Source(clock, lifetime=840.0)
    source.fail = True
    provider = TokenProvider(source, clock=clock)
    for failures, window in enumerate([1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0], start=1):
        with pytest.raises(EKSAuthError):
            await provider.get_token()
        assert source.fetches == failures
        assert provider.policy.fail_fast(failures) == window
        clock.advance(window - 0.01)
        with pytest.raises(EKSAuthError):
            await provider.get_token()  # inside the window: answered at once, the source spared
        assert source.fetches == failures
        clock.advance(0.02)
    source.fail = False
    assert (await provider.get_token()).value.startswith("tok-")
    await provider.aclose()


async def test_the_refresh_loop_backs_off_by_its_providers_policy() -> None:
    clock = RecordingClock()
    source = Source(clock, lifetime=840.0)
    policy = RefreshPolicy(jitter=0.0, backoff_base=1.0, backoff_cap=8.0, rng=random.Random(3))
    provider = TokenProvider(source, policy=policy, clock=clock)
    await provider.get_token()
    source.fail = True
    task = start_refresh_task(provider, cluster_id="backoff", clock=clock)
    await settle()
    clock.advance(600)  # past the planned refresh: the first attempt fails
    await settle()
    for _ in range(5):
        clock.advance(8)
        await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await provider.aclose()
    # the plan (one draw of the policy's rng), then one backoff per failure from the same rng
    twin = RefreshPolicy(jitter=0.0, backoff_base=1.0, backoff_cap=8.0, rng=random.Random(3))
    planned = twin.delay_until_refresh(840.0 - 180.0, 840.0, 0.0)
    assert clock.sleeps[0] == pytest.approx(planned) == 840.0 - 180.0 - 60.0
    backoffs = clock.sleeps[1:]
    assert len(backoffs) >= 5
    assert backoffs == [twin.backoff(n) for n in range(1, len(backoffs) + 1)]

"""The caching token provider: fast path, single flight, refresh windows, failures."""

from __future__ import annotations

import asyncio

import pytest
from auth_helpers import CountingSource, ManualClock, network_error

from kom_async import RefreshPolicy, Token, TokenProvider
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, KomError


async def test_ten_thousand_concurrent_callers_on_a_cold_provider_cause_one_fetch(clock: ManualClock) -> None:
    source = CountingSource(clock, delay=0.05)
    provider = TokenProvider(source, name="c1", clock=clock)
    tokens = await asyncio.gather(*(provider.get_token() for _ in range(10_000)))
    assert source.fetches == 1
    assert len({id(t) for t in tokens}) == 1
    assert provider.stats.fetches == 1
    await provider.aclose()


async def test_a_fresh_token_is_served_from_cache_without_touching_the_source(clock: ManualClock) -> None:
    source = CountingSource(clock)
    provider = TokenProvider(source, clock=clock)
    first = await provider.get_token()
    clock.advance(600)  # 10 of 14 minutes: still outside the advisory window
    for _ in range(1000):
        assert await provider.get_token() is first
    assert source.fetches == 1
    await provider.aclose()


async def test_in_the_advisory_window_one_background_fetch_runs_and_callers_keep_the_old_token(
    clock: ManualClock,
) -> None:
    source = CountingSource(clock)
    provider = TokenProvider(source, clock=clock)
    first = await provider.get_token()
    source.gate = asyncio.Event()
    clock.advance(840 - 120)  # two minutes left: advisory (3 min) but not mandatory (1 min)
    results = await asyncio.gather(*(provider.get_token() for _ in range(500)))
    assert all(t is first for t in results)  # nobody waited
    assert source.fetches == 2  # exactly one background fetch started
    source.gate.set()
    await asyncio.sleep(0.01)
    second = await provider.get_token()
    assert second is not first and source.fetches == 2
    await provider.aclose()


async def test_in_the_mandatory_window_callers_wait_for_the_new_token(clock: ManualClock) -> None:
    source = CountingSource(clock, delay=0.02)
    provider = TokenProvider(source, clock=clock)
    first = await provider.get_token()
    clock.advance(840 - 30)
    results = await asyncio.gather(*(provider.get_token() for _ in range(100)))
    assert all(t is not first for t in results) and len({id(t) for t in results}) == 1
    assert source.fetches == 2
    await provider.aclose()


async def test_refresh_does_not_fetch_again_when_the_failed_token_was_already_replaced(
    clock: ManualClock,
) -> None:
    source = CountingSource(clock, delay=0.01)
    provider = TokenProvider(source, clock=clock)
    failed = await provider.get_token()
    # a thousand requests all saw `failed` rejected with a 401 at once
    renewed = await asyncio.gather(*(provider.refresh(failed) for _ in range(1000)))
    assert source.fetches == 2
    assert len({id(t) for t in renewed}) == 1 and renewed[0] is not failed
    # a late 401 for the old token must not trigger a third fetch
    assert await provider.refresh(failed) is renewed[0]
    assert source.fetches == 2
    # a forced refresh with no argument does fetch
    assert await provider.refresh() is not renewed[0]
    assert source.fetches == 3
    await provider.aclose()


async def test_a_failing_refresh_keeps_serving_the_still_valid_token(clock: ManualClock) -> None:
    source = CountingSource(clock)
    provider = TokenProvider(source, clock=clock, is_eks=True)
    first = await provider.get_token()
    source.fail = network_error()
    clock.advance(840 - 30)  # mandatory window, but not expired
    assert await provider.get_token() is first
    assert provider.stats.refresh_failures == 1
    await provider.aclose()


async def test_past_expiry_a_failing_source_fails_fast_with_when_it_last_succeeded(
    clock: ManualClock,
) -> None:
    source = CountingSource(clock)
    provider = TokenProvider(source, clock=clock, is_eks=True, name="prod")
    await provider.get_token()
    source.fail = network_error()
    clock.advance(900)
    with pytest.raises(EKSAuthError) as info:
        await provider.get_token()
    assert info.value.kind is EKSAuthErrorKind.NetworkError
    assert info.value.last_success is not None
    assert "last successful fetch at" in str(info.value)
    # within the backoff, further callers fail at once without queueing on the source
    before = source.fetches
    for _ in range(100):
        with pytest.raises(EKSAuthError):
            await provider.get_token()
    assert source.fetches == before
    # once the source recovers and the backoff passed, the next caller gets a token
    source.fail = None
    clock.advance(5)
    assert isinstance(await provider.get_token(), Token)
    await provider.aclose()


async def test_expired_token_and_generic_failure_is_reported_as_token_expired(clock: ManualClock) -> None:
    source = CountingSource(clock)
    provider = TokenProvider(source, clock=clock, is_eks=True)
    await provider.get_token()
    source.fail = EKSAuthError(EKSAuthErrorKind.InvalidCredentials, "bad key")
    clock.advance(900)
    with pytest.raises(EKSAuthError) as info:
        await provider.get_token()
    assert info.value.kind is EKSAuthErrorKind.TokenExpired
    await provider.aclose()


async def test_first_fetch_failure_surfaces_the_source_error_unchanged(clock: ManualClock) -> None:
    source = CountingSource(clock)
    source.fail = EKSAuthError(EKSAuthErrorKind.AWSConfigMissing, "no credentials")
    provider = TokenProvider(source, clock=clock, is_eks=True)
    with pytest.raises(EKSAuthError) as info:
        await provider.get_token()
    assert info.value.kind is EKSAuthErrorKind.AWSConfigMissing
    await provider.aclose()


async def test_a_token_without_expiry_is_cached_until_refreshed(clock: ManualClock) -> None:
    source = CountingSource(clock, lifetime=None)
    provider = TokenProvider(source, clock=clock)
    first = await provider.get_token()
    clock.advance(10 * 365 * 86400)
    assert await provider.get_token() is first
    assert provider.refresh_at is None
    assert await provider.refresh(first) is not first
    await provider.aclose()


async def test_short_lived_tokens_get_proportional_windows(clock: ManualClock) -> None:
    source = CountingSource(clock, lifetime=60)  # one minute tokens
    provider = TokenProvider(source, clock=clock)
    first = await provider.get_token()
    clock.advance(30)
    assert await provider.get_token() is first  # not refreshed on every call
    assert source.fetches == 1
    await provider.aclose()


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch(clock: ManualClock) -> None:
    source = CountingSource(clock)
    source.gate = asyncio.Event()
    provider = TokenProvider(source, clock=clock)
    impatient = asyncio.create_task(provider.get_token())
    patient = asyncio.create_task(provider.get_token())
    await asyncio.sleep(0.01)
    impatient.cancel()
    source.gate.set()
    token = await patient
    assert source.fetches == 1 and isinstance(token, Token)
    with pytest.raises(asyncio.CancelledError):
        await impatient
    await provider.aclose()


async def test_token_and_provider_reprs_never_show_the_value(clock: ManualClock) -> None:
    provider = TokenProvider(CountingSource(clock), name="c1", clock=clock)
    token = await provider.get_token()
    for text in (repr(token), str(token), repr(provider), repr(provider.stats)):
        assert "secretvalue" not in text
    await provider.aclose()


async def test_aclose_cancels_an_in_flight_fetch_and_closes_the_source(clock: ManualClock) -> None:
    source = CountingSource(clock)
    source.gate = asyncio.Event()
    provider = TokenProvider(source, clock=clock)
    waiter = asyncio.create_task(provider.get_token())
    await asyncio.sleep(0.01)
    await provider.aclose()
    assert source.closed
    with pytest.raises(KomError, match="closed"):  # an error, not a cancel nobody asked for
        await waiter
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("kom-async:fetch")]


async def test_with_the_system_clock_a_loop_timer_ends_the_fast_path_at_the_advisory_deadline() -> None:
    from datetime import UTC, datetime, timedelta

    lifetime = 2.4  # advisory deadline at 75 % (1.8 s), expiry (= mandatory, window 0) at 2.4 s

    class RealTimeSource:
        kind = "test"
        fetches = 0

        async def fetch(self) -> Token:
            self.fetches += 1
            return Token(f"real-{self.fetches}-secretvalue", datetime.now(UTC) + timedelta(seconds=lifetime))

        async def aclose(self) -> None:
            return None

    source = RealTimeSource()
    provider = TokenProvider(source, policy=RefreshPolicy(mandatory_window=0))  # the system clock
    first = await provider.get_token()
    assert provider._fresh_timer is not None  # the flag is armed
    assert await provider.get_token() is first and source.fetches == 1
    # wait for the timer itself, not for a fixed time: however late the loop runs it, the
    # provider must leave the fast path then (a ceiling only guards against a hang)
    async with asyncio.timeout(30):
        while provider._is_fresh:
            await asyncio.sleep(0.01)
    assert provider._fresh_timer is None
    # the advisory window: the old token is served and one refresh starts in the background
    assert await provider.get_token() is first
    assert source.fetches == 1  # nobody waited for the fetch...
    await asyncio.sleep(0)
    assert source.fetches == 2 and provider.token is not first  # ...which has now run
    provider.invalidate()
    assert provider._fresh_timer is None
    await provider.get_token()
    await provider.aclose()
    assert provider._fresh_timer is None  # no timer outlives the provider

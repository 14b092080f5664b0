"""The provider's asyncio.Lock guards every refresh (double-checked), never the hot path."""

from __future__ import annotations

import asyncio

import pytest
from auth_helpers import CountingSource, ManualClock, network_error

from kom_async import TokenProvider
from kom_async.errors import EKSAuthError


async def test_the_lock_is_held_for_the_whole_fetch_and_never_on_the_hot_path(clock: ManualClock) -> None:
    source = CountingSource(clock)
    source.gate = asyncio.Event()
    provider = TokenProvider(source, clock=clock)
    first = asyncio.create_task(provider.get_token())
    await asyncio.sleep(0.01)
    assert provider._lock.locked()  # the fetching caller holds it while the source works
    queued = [asyncio.create_task(provider.refresh()) for _ in range(50)]
    await asyncio.sleep(0.01)
    source.gate.set()
    token = await first
    assert all(await asyncio.gather(*queued)) and source.fetches == 1  # queued ones re-checked
    assert not provider._lock.locked()
    for _ in range(100):
        assert await provider.get_token() is token
    assert not provider._lock.locked() and source.fetches == 1
    await provider.aclose()


async def test_callers_queued_behind_a_failing_refresh_share_its_error_instead_of_fetching_again(
    clock: ManualClock,
) -> None:
    source = CountingSource(clock)
    provider = TokenProvider(source, clock=clock, is_eks=True)
    rejected = await provider.get_token()
    clock.advance(900)  # past expiry: a refresh is mandatory
    source.fail = network_error()
    source.gate = asyncio.Event()
    recoveries = [asyncio.create_task(provider.refresh(rejected)) for _ in range(100)]
    await asyncio.sleep(0.01)
    source.gate.set()
    results = await asyncio.gather(*recoveries, return_exceptions=True)
    assert source.fetches == 2  # the first token, then one refresh for all hundred
    assert all(isinstance(r, EKSAuthError) for r in results)
    await provider.aclose()


async def test_cancelling_the_lock_holder_hands_the_same_fetch_to_the_next_caller(clock: ManualClock) -> None:
    source = CountingSource(clock)
    source.gate = asyncio.Event()
    provider = TokenProvider(source, clock=clock)
    holder = asyncio.create_task(provider.refresh())
    await asyncio.sleep(0.01)
    assert provider._lock.locked()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    assert not provider._lock.locked()  # released on cancellation, the fetch goes on
    follower = asyncio.create_task(provider.refresh())
    await asyncio.sleep(0.01)
    assert provider._lock.locked()  # the follower holds it now, joined to the same fetch
    source.gate.set()
    assert (await follower).value.startswith("tok-1-") and source.fetches == 1
    await provider.aclose()

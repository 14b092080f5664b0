"""The one backoff formula (``kom_async/backoff.py``): its bounds, its jitter and its cap, and
that the waits between tries are that formula: request retries and fleet discovery against the
lab (``RetryPolicy``), watch reconnects against the lab, and the refresh policy's waits."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from kom_async import Clusters, Kubectl, RefreshPolicy, RetryPolicy
from kom_async.backoff import exponential_backoff
from kom_async.errors import KubernetesError
from kom_async.lab import EKSLab


class Waits:
    """A RetryPolicy sleep that records the waits asked for instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def draws(seed: int, attempts: range, *, base: float, cap: float) -> list[float]:
    """What the formula answers for ``attempts``, jittered by a fresh ``Random(seed)``."""
    rng = random.Random(seed)
    return [exponential_backoff(n, base=base, cap=cap, rng=rng) for n in attempts]


@pytest_asyncio.fixture
async def lab() -> AsyncIterator[EKSLab]:
    async with EKSLab() as lab:
        yield lab


# -- the formula -------------------------------------------------------------------------------


def test_the_wait_doubles_from_the_base_up_to_the_cap() -> None:
    waits = [exponential_backoff(n, base=0.25, cap=4.0) for n in range(1, 9)]
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert exponential_backoff(3, base=0.0, cap=4.0) == 0.0


def test_jitter_draws_from_the_upper_half_of_the_wait_and_spreads_over_it() -> None:
    rng = random.Random(1)
    for attempt in range(1, 9):
        ceiling = exponential_backoff(attempt, base=0.25, cap=4.0)
        spread = [exponential_backoff(attempt, base=0.25, cap=4.0, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in spread)
        # 200 clients that failed together retry over most of the half, not together
        assert max(spread) - min(spread) > 0.8 * ceiling / 2


def test_a_million_failures_in_a_row_still_wait_the_cap() -> None:
    # 0.5 * 2**n overflowed a float from the 1,025th failure on (OverflowError)
    for attempt in (64, 1024, 1025, 1026, 10**6):
        assert exponential_backoff(attempt, base=0.5, cap=30.0) == 30.0
        assert 15.0 <= exponential_backoff(attempt, base=0.5, cap=30.0, rng=random.Random(2)) <= 30.0
    assert exponential_backoff(10**6, base=1e300, cap=8.0) == 8.0
    # and so does every user of it
    assert RefreshPolicy().fail_fast(10**6) == 30.0
    assert RefreshPolicy().backoff(10**6) <= 60.0
    assert RetryPolicy().delay(10**6) <= 4.0


def test_a_meaningless_attempt_base_or_cap_is_refused() -> None:
    for attempt, base, cap in ((0, 1.0, 1.0), (-1, 1.0, 1.0), (1, -1.0, 1.0), (1, 1.0, -0.5)):
        with pytest.raises(ValueError, match=r"attempt|base"):
            exponential_backoff(attempt, base=base, cap=cap)


def test_the_retry_and_refresh_policies_wait_by_the_formula() -> None:
    retry = RetryPolicy(backoff_base=0.25, backoff_cap=4.0, rng=random.Random(5))
    assert [retry.delay(n) for n in range(1, 9)] == draws(5, range(1, 9), base=0.25, cap=4.0)
    refresh = RefreshPolicy(backoff_base=1.0, backoff_cap=60.0, rng=random.Random(6))
    assert [refresh.backoff(n) for n in range(1, 10)] == draws(6, range(1, 10), base=1.0, cap=60.0)
    # the provider's fail-fast time: 1, 2, 4, ... 30 s, the same for every provider
    assert [refresh.fail_fast(n) for n in range(1, 8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


# -- its users, against the lab ----------------------------------------------------------------


async def test_reads_retried_through_a_failing_server_wait_by_the_formula(lab: EKSLab) -> None:
    waits = Waits()
    policy = RetryPolicy(attempts=4, backoff_base=0.5, backoff_cap=1.0, rng=random.Random(9), sleep=waits)
    await lab.create_cluster("flaky")
    async with Clusters(retry_policy=policy) as clusters:
        kubectl = await clusters.register_by_string(
            lab.kubeconfig("flaky", static_token=True), cluster_id="flaky"
        )
        await kubectl.api_resources()  # discovery first, so the faults hit the list itself
        lab.api_fault("flaky", status=503, count=3)
        await kubectl.resource("cm").namespace("demo").list()
        assert waits.waits == draws(9, range(1, 4), base=0.5, cap=1.0)


async def test_fleet_discovery_throttled_by_aws_waits_by_the_formula(lab: EKSLab) -> None:
    await lab.create_cluster("t1", seed=False)
    lab.aws_throttle("eks", count=3)
    waits = Waits()
    policy = RetryPolicy(attempts=6, backoff_base=0.5, backoff_cap=8.0, rng=random.Random(4), sleep=waits)
    async with Clusters() as clusters:
        result = await clusters.discover_eks([lab.region], env=lab.aws_env, retry_policy=policy)
        assert result.failures == [] and len(result.registered) == 1
    assert waits.waits == draws(4, range(1, 4), base=0.5, cap=8.0)


async def test_a_watch_reconnecting_to_a_refusing_server_waits_jittered_growing_times(
    lab: EKSLab, caplog: pytest.LogCaptureFixture
) -> None:
    await lab.create_cluster("refusing")
    # no request retries: every refused reconnect is one of the watch's own failures
    async with Clusters(retry_policy=None) as clusters:
        kubectl: Kubectl = await clusters.register_by_string(
            lab.kubeconfig("refusing", static_token=True), cluster_id="refusing"
        )
        events = kubectl.resource("cm").namespace("demo").watch(send_initial=False, max_retries=5)
        try:
            await events.start()
            caplog.set_level(logging.DEBUG, logger="kom_async.kubectl")
            lab.api_fault("refusing", status=503)
            lab.drop_watches("refusing")
            with pytest.raises(KubernetesError):
                await asyncio.wait_for(anext(events), 30)
        finally:
            lab.clear_api_fault("refusing")
            await events.aclose()
    waits = [r.args[3] for r in caplog.records if "retrying in" in r.msg and isinstance(r.args, tuple)]
    assert len(waits) == 5
    ceilings = [exponential_backoff(n, base=0.05, cap=2.0) for n in range(1, 6)]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert waits != ceilings  # jittered: the watches of a restarted server do not reconnect together

"""Scenario 2: refresh storm — 10,000 coroutines arrive on an expired token, the source takes 50 ms.

kom-async's single-flight ``TokenProvider`` vs a naive lock-free provider (every caller
fetches) and a lock-per-call provider (callers queue on one lock, the first one fetches).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from benchmarks.common import BenchConfig, ScenarioResult, median, no_gc, percentile, set_verdict
from kom_async.auth.provider import TokenProvider
from kom_async.auth.token import Token

NAME = "refresh_storm"
FETCH_SECONDS = 0.05


class SlowSource:
    """A token source whose fetch takes ``delay`` seconds; the first token is already expired."""

    kind = "bench-slow"

    def __init__(self, delay: float = FETCH_SECONDS) -> None:
        self.delay = delay
        self.fetches = 0

    async def fetch(self) -> Token:
        self.fetches += 1
        if self.fetches == 1:  # the token the storm finds: expired a second ago
            return Token("expired", expires_at=datetime.now(UTC) - timedelta(seconds=1))
        await asyncio.sleep(self.delay)
        return Token(f"fresh-{self.fetches}", expires_at=datetime.now(UTC) + timedelta(minutes=14))

    async def aclose(self) -> None:
        return None


def _valid(token: Token | None) -> bool:
    return token is not None and token.expires_at is not None and token.expires_at > datetime.now(UTC)


class LockFreeProvider:
    """Naive: no lock, no single-flight — every caller that sees a stale token fetches."""

    def __init__(self, source: SlowSource) -> None:
        self.source = source
        self._token: Token | None = None

    async def get_token(self) -> Token:
        token = self._token
        if _valid(token):
            assert token is not None
            return token
        token = await self.source.fetch()
        self._token = token
        return token


class LockPerCallProvider:
    """Naive: every call takes the lock; whoever holds it with a stale token fetches."""

    def __init__(self, source: SlowSource) -> None:
        self.source = source
        self._token: Token | None = None
        self._lock = asyncio.Lock()

    async def get_token(self) -> Token:
        async with self._lock:
            token = self._token
            if not _valid(token):
                token = await self.source.fetch()
                self._token = token
            assert token is not None
            return token


async def storm(get: Callable[[], Awaitable[Token]], n: int) -> list[float]:
    """Start ``n`` coroutines on ``get()`` at once; return each one's wait in seconds, sorted."""
    waits: list[float] = []

    async def caller() -> None:
        start = time.perf_counter()
        await get()
        waits.append(time.perf_counter() - start)

    with no_gc():
        await asyncio.gather(*(caller() for _ in range(n)))
    waits.sort()
    return waits


async def _one_round(label: str, n: int) -> tuple[int, list[float]]:
    source = SlowSource()
    if label == "kom-async TokenProvider":
        provider = TokenProvider(source, name="storm")
        await provider.get_token()  # installs the expired token
        waits = await storm(provider.get_token, n)
        await provider.aclose()
    elif label == "naive lock-free":
        naive = LockFreeProvider(source)
        await naive.get_token()
        waits = await storm(naive.get_token, n)
    else:
        locked = LockPerCallProvider(source)
        await locked.get_token()
        waits = await storm(locked.get_token, n)
    return source.fetches - 1, waits


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Fetch counts and p50/p99/max waits for the three providers, medians over rounds."""
    result = ScenarioResult(NAME, "2. Refresh storm")
    n = cfg.pick(10_000, 2_000)
    rounds = cfg.pick(5, 2)
    labels = ["kom-async TokenProvider", "naive lock-free", "lock per call"]
    raw: dict[str, dict[str, list[float]]] = {label: {} for label in labels}
    for _ in range(rounds):
        for label in labels:
            fetches, waits = await _one_round(label, n)
            stats = raw[label]
            stats.setdefault("fetches", []).append(fetches)
            stats.setdefault("p50_ms", []).append(percentile(waits, 0.50) * 1e3)
            stats.setdefault("p99_ms", []).append(percentile(waits, 0.99) * 1e3)
            stats.setdefault("max_ms", []).append(waits[-1] * 1e3)
    summary = {label: {k: median(v) for k, v in stats.items()} for label, stats in raw.items()}
    for label in labels:
        s = summary[label]
        result.rows.append(
            {
                "variant": label,
                "coroutines": n,
                "fetches": int(s["fetches"]),
                "p50 ms": round(s["p50_ms"], 1),
                "p99 ms": round(s["p99_ms"], 1),
                "max ms": round(s["max_ms"], 1),
            }
        )
    ours = summary["kom-async TokenProvider"]
    fetch_counts = raw["kom-async TokenProvider"]["fetches"]
    result.metrics = {
        "coroutines": n,
        "rounds": rounds,
        "fetch_seconds": FETCH_SECONDS,
        "medians": summary,
        "per_round": raw,
    }
    result.target = "exactly 1 fetch"
    set_verdict(result, "met" if all(f == 1 for f in fetch_counts) else "missed")
    result.conditions = "in-process, expired token, 50 ms fake source (no plugin, no network), one event loop"
    result.headline = (
        f"{n:,} coroutines -> {int(ours['fetches'])} fetch; waits p50 {ours['p50_ms']:.1f} ms, "
        f"p99 {ours['p99_ms']:.1f} ms, max {ours['max_ms']:.1f} ms "
        f"(lock-free: {int(summary['naive lock-free']['fetches']):,} fetches; lock per call: "
        f"max {summary['lock per call']['max_ms']:.1f} ms)"
    )
    result.notes.append(
        "waits are from each coroutine's own start and include the event loop starting and "
        f"resuming {n:,} tasks, so they exceed the {FETCH_SECONDS * 1e3:.0f} ms fetch; the "
        "lock-per-call provider also fetches once (queued callers then see the fresh token) "
        "but pays for its lock on every cached call (scenario 1) and serialises its callers "
        "behind a slow or failing fetch"
    )
    if cfg.quick:
        result.notes.append(f"quick mode: {n:,} coroutines instead of 10,000")
    return result

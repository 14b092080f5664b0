"""Bounded retries for idempotent reads: what ``KomApiClient.request`` retries, and how long it waits.

Only GET and HEAD (reads, lists and the opening of a watch) are retried: a write that
timed out or got a 5xx may have been applied, so repeating it is the caller's decision.
A read is retried on 429/500/502/503/504 and when the connection failed or broke before
the response was complete; never on a TLS verification failure (retrying cannot fix it).
Waits grow exponentially with jitter, and a server's ``Retry-After`` is honoured up to a cap.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from kom_async.backoff import exponential_backoff

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryPolicy:
    """How many times to try a read and how long to wait in between.

    ``attempts`` counts the first try (``attempts=1`` disables retries). The wait before
    retry ``n`` is ``backoff_base * 2**(n-1)`` capped at ``backoff_cap``, with jitter on
    its upper half; a ``Retry-After`` header replaces it, capped at ``max_retry_after``.
    """

    def __init__(
        self,
        *,
        attempts: int = 4,
        backoff_base: float = 0.25,
        backoff_cap: float = 4.0,
        max_retry_after: float = 10.0,
        statuses: frozenset[int] = RETRYABLE_STATUSES,
        methods: frozenset[str] = IDEMPOTENT_METHODS,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if backoff_base < 0 or backoff_cap < 0 or max_retry_after < 0:
            raise ValueError("waits must be >= 0")
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.statuses = statuses
        self.methods = frozenset(m.upper() for m in methods)
        self.rng = rng or random.Random()
        self.sleep = sleep

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(attempts={self.attempts}, backoff_base={self.backoff_base}, "
            f"backoff_cap={self.backoff_cap}, max_retry_after={self.max_retry_after})"
        )

    def applies_to(self, method: str) -> bool:
        """True when requests with ``method`` may be retried at all."""
        return self.attempts > 1 and method.upper() in self.methods

    def retry_status(self, status: int | None) -> bool:
        """True for answers worth retrying (overload and transient server errors)."""
        return status in self.statuses

    @staticmethod
    def retry_exception(exc: BaseException) -> bool:
        """True for transport failures a retry can fix: refused, reset, cut short."""
        if isinstance(exc, aiohttp.ClientSSLError):
            return False  # a certificate problem does not go away by asking again
        return isinstance(
            exc,
            (
                aiohttp.ClientConnectorError,  # refused, unreachable, DNS
                aiohttp.ServerDisconnectedError,
                aiohttp.ClientPayloadError,  # body cut short
                aiohttp.ClientOSError,  # reset by peer
            ),
        )

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return min(asked, self.max_retry_after)
        return exponential_backoff(retry, base=self.backoff_base, cap=self.backoff_cap, rng=self.rng)


#: the policy ``KomApiClient`` uses unless given another one
DEFAULT_RETRY_POLICY = RetryPolicy()

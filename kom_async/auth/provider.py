"""The caching token provider: a lock-free fast path, single-flight fetches, two refresh windows.

Modelled on botocore's refreshable credentials: inside the *advisory* window one background
fetch starts while callers keep the still-valid token; inside the *mandatory* window callers
wait for the new token. However many coroutines ask, at most one fetch is in flight. The
windows, like all refresh timing, are the provider's ``RefreshPolicy`` (``auth/timing.py``).

Why it is built this way: the hot path (a fresh token) must cost nothing, so it takes no
lock and reads a flag. Only a caller that needs a new token takes ``asyncio.Lock``, in the
double-checked way: check freshness, take the lock, check again (the previous holder may
just have installed a new token, or failed to), then fetch or join the fetch in flight, and
hold the lock until it ends. So the lock is what serialises refreshes: while one runs,
every other caller that needs a new token queues on it and is answered by that fetch.
The fetch itself runs in a task owned by the provider and each caller awaits a future of
its own, so cancelling a caller (even the lock holder) never cancels the fetch; the next
holder joins it instead of starting another.

With the system clock, "still fresh" is a flag that an event-loop timer clears at the
advisory deadline, so the hot path reads no clock at all. The loop's clock does not count
time a laptop spends suspended; after a long suspend the first request may therefore meet
a 401, which the auth flow recovers from with one refresh and one retry.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from kom_async.auth.clock import Clock, SystemClock, system_clock
from kom_async.auth.timing import RefreshPolicy
from kom_async.auth.token import Token, TokenSource
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, KomError

log = logging.getLogger("kom_async.auth")


@dataclass(frozen=True)
class AuthStats:
    """Counters a user can watch: fetches, failures, 401 recoveries, current expiry, and the
    authentication failures a caller finally saw, by kind (``InvalidCredentials``, ...)."""

    source: str
    fetches: int = 0
    refresh_failures: int = 0
    unauthorized_recoveries: int = 0
    last_fetch_duration: float | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    expires_at: datetime | None = None
    auth_failures: Mapping[str, int] = field(default_factory=dict)


class TokenProvider:
    """Hands out a valid token from a ``TokenSource``, fetching as rarely as possible.

    While the token is fresh, ``get_token()`` reads a flag (with the system clock: a loop
    timer clears it at the advisory deadline, see the module docstring); with any other clock
    (the lab's, a test's) it costs one read of that clock and a comparison.
    ``refresh()`` forces a new token but joins a fetch already in flight, and returns
    the current token unchanged when it already replaced the one the caller saw fail.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        name: str = "",
        policy: RefreshPolicy | None = None,
        clock: Clock | None = None,
        is_eks: bool = False,
        region: str | None = None,
    ) -> None:
        self.source = source
        self.name = name
        self.is_eks = is_eks
        #: the AWS region of an EKS cluster, carried in every log record's ``extra``
        self.region = region
        #: when the token is refreshed (its windows, the refresh loop's timing, the fail-fast time)
        self.policy = policy or RefreshPolicy()
        self._clock: Clock = clock or system_clock
        self._time = self._clock.time
        self._lock = asyncio.Lock()
        self._token: Token | None = None
        self._advisory_at = -math.inf  # POSIX seconds after which a background refresh starts
        self._mandatory_at = -math.inf  # ... after which callers wait for a new token
        self._expires_at = -math.inf
        self._fetch_task: asyncio.Task[Token] | None = None
        self._waiters: list[asyncio.Future[Token]] = []  # callers awaiting the current fetch
        self._attempts = 0  # fetches finished (either way): tells a queued caller one ended
        # hot path: True while the token is before its advisory deadline (system clock only)
        self._is_fresh = False
        self._fresh_timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._last_exc: KomError | None = None
        self._failures_in_row = 0
        self._retry_at = -math.inf
        self._stats = AuthStats(source=source.kind)

    def __repr__(self) -> str:
        exp = self._token.expires_at.isoformat() if self._token and self._token.expires_at else None
        return f"TokenProvider(name={self.name!r}, source={self.source.kind!r}, expires_at={exp})"

    # -- reading ---------------------------------------------------------------------------
    @property
    def token(self) -> Token | None:
        """The cached token (possibly stale), without fetching."""
        return self._token

    @property
    def stats(self) -> AuthStats:
        """A snapshot of the counters."""
        return self._stats

    @property
    def refresh_at(self) -> float | None:
        """POSIX time at which the cached token enters its advisory window (None: never)."""
        if self._token is None:
            return None
        return None if math.isinf(self._advisory_at) else self._advisory_at

    def refresh_delay(self, now: float) -> float | None:
        """Seconds from ``now`` until the background loop should renew the cached token, by
        the policy (None: there is no token, or it never expires)."""
        if self._token is None or math.isinf(self._advisory_at):
            return None
        return self.policy.delay_until_refresh(self._advisory_at, self._expires_at, now)

    async def get_token(self) -> Token:
        """A valid token: the cached one while fresh, else the result of one shared fetch."""
        if self._is_fresh:
            return self._token  # type: ignore[return-value]  # set together with the flag
        token = self._token
        if token is not None and self._time() < self._advisory_at:
            return token
        return await self._slow_get(token)

    async def refresh(self, failed: Token | None = None) -> Token:
        """Force a new token. ``failed`` is the token the caller saw rejected (default: the
        current one); if another coroutine already replaced it, that newer token is returned."""
        return await self._fresh(failed if failed is not None else self._token, force=True)

    def note_unauthorized_recovery(self) -> None:
        """Count a request that succeeded on retry after a 401."""
        self._stats = replace(self._stats, unauthorized_recoveries=self._stats.unauthorized_recoveries + 1)

    def note_auth_failure(self, kind: str) -> None:
        """Count an authentication failure a request ended with (nothing recovered it)."""
        failures = dict(self._stats.auth_failures)
        count = failures[kind] = failures.get(kind, 0) + 1
        self._stats = replace(self._stats, auth_failures=failures)
        if count & (count - 1) == 0:  # the 1st, 2nd, 4th, 8th...: a storm of failures logs a few lines
            log.warning(
                "request to %s failed authentication (%s), %d so far",
                self.name or "<unnamed>",
                kind,
                count,
                extra=self.log_extra,
            )

    @property
    def log_extra(self) -> dict[str, str | None]:
        """What every auth log record about this provider carries: cluster, source, region."""
        return {"cluster": self.name, "source": self.source.kind, "region": self.region}

    # -- slow paths ------------------------------------------------------------------------
    async def _slow_get(self, token: Token | None) -> Token:
        if token is not None and self._time() < self._mandatory_at:
            # advisory window: one background fetch, everyone keeps the valid token
            self._start_fetch(background=True)
            return token
        return await self._fresh(token, force=False)

    def _usable(self, stale: Token | None, force: bool) -> Token | None:
        """The cached token if it is not ``stale`` and needs no waiting for a new one."""
        current = self._token
        if current is not None and current is not stale and (force or self._time() < self._mandatory_at):
            return current
        return None

    async def _fresh(self, stale: Token | None, *, force: bool) -> Token:
        if self._closed:
            raise KomError(f"token provider {self.name!r} is closed")
        current = self._usable(stale, force)  # check
        if current is not None:
            return current
        attempts = self._attempts
        async with self._lock:  # held until the fetch ends: refreshes are serialised here
            current = self._usable(stale, force)  # check again: the last holder's fetch may have done it
            if current is not None:
                return current
            last_exc = self._last_exc
            if last_exc is not None and self._fetch_task is None:
                if self._attempts != attempts:
                    # a fetch ended while we queued, and failed: it was our fetch too
                    return self._fail(last_exc, force)
                if not force and self._time() < self._retry_at:
                    # the source failed moments ago: fail fast instead of queueing on it again
                    return self._fallback_or_raise(last_exc)
            # a future of its own per caller: cancelling one caller never cancels the fetch
            waiter: asyncio.Future[Token] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self._start_fetch()  # fetch, or join the one in flight (background, or orphaned)
            try:
                return await waiter
            except KomError as exc:
                return self._fail(exc, force)

    def _fail(self, exc: KomError, force: bool) -> Token:
        """What a caller whose fetch failed gets: the still-valid token, or an error."""
        if not force:
            return self._fallback_or_raise(exc)
        if self._token is not None and self._time() < self._expires_at:
            raise exc  # the current token still works; the caller decides what to do
        raise self._expired_error(exc) from exc

    def _fallback_or_raise(self, exc: KomError) -> Token:
        current = self._token
        if current is not None and self._time() < self._expires_at:
            return current  # mandatory window: the old token still works, use it
        raise self._expired_error(exc) from exc

    def _expired_error(self, exc: KomError) -> KomError:
        last = self._stats.last_success
        if not self.is_eks or last is None or self._token is None:
            return exc  # nothing has ever worked: the source's own error says it best
        network = isinstance(exc, EKSAuthError) and exc.kind is EKSAuthErrorKind.NetworkError
        kind = EKSAuthErrorKind.NetworkError if network else EKSAuthErrorKind.TokenExpired
        return EKSAuthError(
            kind,
            f"the token expired and could not be refreshed ({exc}); "
            f"last successful fetch at {last.isoformat()}",
            cluster_id=self.name or None,
            last_success=last,
        )

    def _start_fetch(self, *, background: bool = False) -> asyncio.Task[Token]:
        task = self._fetch_task
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._run_fetch(background), name=f"kom-async:fetch:{self.name}"
            )
            task.add_done_callback(_consume_exception)
            self._fetch_task = task
        return task

    async def _run_fetch(self, background: bool = False) -> Token:
        started = time.perf_counter()
        outcome: Token | BaseException = KomError(
            f"token provider {self.name!r} was closed while fetching a token"
        )
        try:
            token = outcome = await self.source.fetch()
        except KomError as exc:
            outcome = exc
            self._last_exc = exc
            self._failures_in_row += 1
            self._retry_at = self._time() + self.policy.fail_fast(self._failures_in_row)
            self._stats = replace(
                self._stats,
                refresh_failures=self._stats.refresh_failures + 1,
                last_error=str(exc),
            )
            # a fetch somebody awaits fails in their hands (the refresh loop logs its own
            # attempts): log it once there; only an unawaited background fetch warns here
            log.log(
                logging.WARNING if background else logging.DEBUG,
                "token fetch failed: %s",
                exc,
                extra=self.log_extra,
            )
            raise
        except Exception as exc:  # a source's bug: its callers see it, nothing hangs
            outcome = exc
            raise
        finally:
            self._fetch_task = None
            self._attempts += 1
            if isinstance(outcome, Token):
                self._install(outcome)
            self._settle_waiters(outcome)
        duration = time.perf_counter() - started
        self._last_exc = None
        self._failures_in_row = 0
        self._stats = replace(
            self._stats,
            fetches=self._stats.fetches + 1,
            last_fetch_duration=duration,
            last_success=self._clock.now(),
            last_error=None,
            expires_at=token.expires_at,
        )
        log.info(
            "token fetched for %s from %s in %.1f ms, expires at %s",
            self.name or "<unnamed>",
            self.source.kind,
            duration * 1000,
            token.expires_at.isoformat() if token.expires_at else "never (until a 401)",
            extra=self.log_extra,
        )
        return token

    def _settle_waiters(self, outcome: Token | BaseException) -> None:
        """Hand the fetch's token (or error) to every caller still waiting for it."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if waiter.done():  # that caller was cancelled
                continue
            if isinstance(outcome, Token):
                waiter.set_result(outcome)
            else:
                waiter.set_exception(outcome)

    def _install(self, token: Token) -> None:
        """Cache ``token`` and derive its refresh windows from its remaining lifetime."""
        self._mark_stale()
        if token.expires_at is None:
            self._advisory_at = self._mandatory_at = self._expires_at = math.inf
        else:
            expires = token.expires_at.timestamp()
            self._advisory_at, self._mandatory_at = self.policy.deadlines(expires, expires - self._time())
            self._expires_at = expires
        self._token = token
        if isinstance(self._clock, SystemClock):
            delay = self._advisory_at - self._time()
            if math.isinf(delay):
                self._is_fresh = True
            elif delay > 0:
                loop = asyncio.get_running_loop()
                self._fresh_timer = loop.call_later(delay, self._mark_stale)
                self._is_fresh = True

    def _mark_stale(self) -> None:
        """The advisory deadline passed (or the token changed): back to the checked path."""
        self._is_fresh = False
        if self._fresh_timer is not None:
            self._fresh_timer.cancel()
            self._fresh_timer = None

    def invalidate(self) -> None:
        """Forget the cached token so the next ``get_token()`` fetches."""
        self._mark_stale()
        self._token = None
        self._advisory_at = self._mandatory_at = self._expires_at = -math.inf

    async def aclose(self) -> None:
        """Cancel an in-flight fetch and close the source."""
        self._closed = True
        self._mark_stale()
        task = self._fetch_task
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, KomError):
                pass
        await self.source.aclose()


def _consume_exception(task: asyncio.Task[Token]) -> None:
    # a background (advisory) fetch may fail with nobody awaiting it; its failure is
    # already logged and counted, so mark the exception as retrieved
    if not task.cancelled():
        task.exception()

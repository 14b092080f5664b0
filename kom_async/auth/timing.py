"""When a token is refreshed, all in one place (as botocore keeps both windows in its
refreshable credentials): the advisory and mandatory windows before expiry and their scaling
for short-lived tokens, the refresh loop's lead, jitter and backoff, and how long a failed
fetch makes callers fail fast.

Imports nothing heavy at run time: ``kom-async eks get-token`` serves its on-disk cache until
``ADVISORY_WINDOW`` before expiry, on a start-up path that must not load typing or dataclasses.
"""

from __future__ import annotations

from kom_async.backoff import exponential_backoff

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (CLI start-up time)
if TYPE_CHECKING:
    from random import Random

#: refresh this long before expiry at the latest (scaled down for short-lived tokens)
ADVISORY_WINDOW = 180.0
#: below this much remaining lifetime callers wait for a new token
MANDATORY_WINDOW = 60.0


class RefreshPolicy:
    """When to refresh a token, and how to back off when that fails.

    A token enters its *advisory* window ``advisory_window`` seconds before it expires (one
    background fetch starts; callers keep the valid token) and its *mandatory* window
    ``mandatory_window`` seconds before (callers wait for the new token). A short-lived
    token's windows shrink to a quarter and a tenth of its remaining lifetime, so it is used
    before it is renewed. The background loop renews ``lead`` seconds (at most a tenth of the
    lifetime) before the advisory window, minus a random part of up to ``jitter`` times the
    lifetime (at most ``max_jitter`` seconds) so many clusters do not refresh together, and
    retries a failure after ``backoff_base * 2**(n-1)`` seconds (at most ``backoff_cap``,
    jittered). For 1, 2, 4, ... up to 30 s after a failed fetch, callers get at once the old
    token while it works (else that failure) instead of queueing on the failing source again.
    """

    #: a short-lived token's windows and lead: at most these fractions of its remaining lifetime
    ADVISORY_FRACTION = 0.25
    MANDATORY_FRACTION = 0.1
    LEAD_FRACTION = 0.1
    #: the fail-fast time after the n-th failed fetch in a row: FAIL_FAST_BASE * 2**(n-1), capped
    FAIL_FAST_BASE = 1.0
    FAIL_FAST_CAP = 30.0

    def __init__(
        self,
        *,
        advisory_window: float = ADVISORY_WINDOW,
        mandatory_window: float = MANDATORY_WINDOW,
        lead: float = 60.0,
        jitter: float = 0.1,
        max_jitter: float = 60.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        rng: Random | None = None,
    ) -> None:
        if mandatory_window < 0 or advisory_window < mandatory_window:
            raise ValueError("need 0 <= mandatory_window <= advisory_window")
        if min(lead, jitter, max_jitter, backoff_base, backoff_cap) < 0:
            raise ValueError("lead, jitter, max_jitter, backoff_base and backoff_cap must be >= 0")
        if rng is None:
            import random  # here, not at the top: the get-token start-up path never needs it

            rng = random.Random()
        self.advisory_window = advisory_window
        self.mandatory_window = mandatory_window
        self.lead = lead
        self.jitter = jitter
        self.max_jitter = max_jitter
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rng = rng

    def __repr__(self) -> str:
        return (
            f"RefreshPolicy(advisory_window={self.advisory_window}, "
            f"mandatory_window={self.mandatory_window}, lead={self.lead}, jitter={self.jitter}, "
            f"max_jitter={self.max_jitter}, "
            f"backoff_base={self.backoff_base}, backoff_cap={self.backoff_cap})"
        )

    def deadlines(self, expires: float, lifetime: float) -> tuple[float, float]:
        """``(advisory_at, mandatory_at)`` for a token expiring at ``expires`` (POSIX seconds)
        with ``lifetime`` seconds left."""
        lifetime = max(0.0, lifetime)
        return (
            expires - min(self.advisory_window, lifetime * self.ADVISORY_FRACTION),
            expires - min(self.mandatory_window, lifetime * self.MANDATORY_FRACTION),
        )

    def delay_until_refresh(self, refresh_at: float, expires: float, now: float) -> float:
        """Seconds from ``now`` until the background loop renews a token that enters its
        advisory window at ``refresh_at`` and expires at ``expires``: a little before the
        window opens, so requests never wait, less a random part that spreads 1,000 clusters
        over up to a minute."""
        lifetime = max(0.0, expires - now)
        lead = min(self.lead, lifetime * self.LEAD_FRACTION)
        spread = self.rng.uniform(0.0, min(self.max_jitter, lifetime * self.jitter))
        return max(0.0, refresh_at - now - lead - spread)

    def backoff(self, failures: int) -> float:
        """Seconds the background loop waits after its ``failures``-th failed refresh in a row."""
        return exponential_backoff(failures, base=self.backoff_base, cap=self.backoff_cap, rng=self.rng)

    def fail_fast(self, failures: int) -> float:
        """Seconds after the ``failures``-th failed fetch in a row during which callers are
        answered at once (the old token while it works, else that failure), not queued again."""
        return exponential_backoff(failures, base=self.FAIL_FAST_BASE, cap=self.FAIL_FAST_CAP)

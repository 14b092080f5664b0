"""Capped exponential backoff: the one formula every wait between tries in the package uses
(request retries, fleet discovery, the token refresh loop, a failed fetch's fail-fast window,
watch reconnects). Imports nothing at run time, so even ``kom-async eks get-token``'s start-up
path may load it."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (CLI start-up time)
if TYPE_CHECKING:
    from random import Random

# 2.0 ** 1024 overflows a float; far past any cap, so larger exponents change nothing
_MAX_EXPONENT = 1000


def exponential_backoff(attempt: int, *, base: float, cap: float, rng: Random | None = None) -> float:
    """Seconds to wait after failure number ``attempt`` (1-based): ``base * 2**(attempt-1)``,
    at most ``cap``. With ``rng``, a uniformly random point of that ceiling's upper half, so
    many clients that failed together spread out yet none retries sooner than half the wait.

    However many failures came before, the answer stays finite and within ``[0, cap]``.
    """
    if attempt < 1:
        raise ValueError(f"attempt is counted from 1, got {attempt}")
    if base < 0 or cap < 0:
        raise ValueError(f"backoff base and cap must be >= 0, got base={base}, cap={cap}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    if rng is None:
        return ceiling
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)

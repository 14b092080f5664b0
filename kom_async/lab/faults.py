"""Fault knobs: make an endpoint slow, failing or unreachable for N requests or until cleared."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Fault:
    """What to do to the next requests an endpoint receives.

    ``delay`` seconds of latency first; then either drop the connection
    (``unavailable``), answer ``status`` (with a ``Retry-After`` header when
    ``retry_after`` is set, and the AWS error ``code``, e.g. ``ThrottlingException``), or,
    with neither, serve the request normally (just slow).
    ``count`` limits the fault to that many requests; ``None`` means until cleared.
    """

    delay: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    unavailable: bool = False
    count: int | None = None
    hits: int = 0
    code: str = "ServiceUnavailable"

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error code (400..599)")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 (or None for until cleared)")

    @property
    def exhausted(self) -> bool:
        """True once the fault has hit ``count`` requests."""
        return self.count is not None and self.hits >= self.count

    def take(self) -> bool:
        """Claim this fault for one request; False if it is used up."""
        if self.exhausted:
            return False
        self.hits += 1
        return True

    def retry_after_header(self) -> dict[str, str]:
        """The ``Retry-After`` header to send, if any (whole seconds, rounded up)."""
        if self.retry_after is None:
            return {}
        whole = int(self.retry_after) + (0 if float(self.retry_after).is_integer() else 1)
        return {"Retry-After": str(whole)}

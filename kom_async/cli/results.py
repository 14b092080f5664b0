"""What ``kom-async clusters check`` learns about one cluster: a row of the table, an item of
``-o json``. Its own module so the check and the table both import it, not each other."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class CheckResult:
    """What ``clusters check`` learned about one kubeconfig (one row of the table)."""

    id: str
    kubeconfig: str
    server: str | None = None
    auth_kind: str | None = None
    eks: bool | None = None
    token_source: str | None = None
    token_expires_at: str | None = None
    server_version: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    context: str | None = None

    @property
    def ok(self) -> bool:
        """True when the cluster registered and answered ``/version``."""
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (what ``--json`` prints per cluster)."""
        return {**asdict(self), "ok": self.ok}

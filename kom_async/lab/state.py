"""Everything the lab keeps for one cluster: its objects, tokens, faults and counters."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from kom_async.lab.faults import Fault
from kom_async.lab.paging import Pager
from kom_async.lab.podlogs import LogBook
from kom_async.lab.resources import TypeRegistry
from kom_async.lab.store import ObjectStore


@dataclass(frozen=True, slots=True)
class LabUser:
    """An authenticated Kubernetes user: name, groups and where it came from (arn or static)."""

    username: str
    groups: tuple[str, ...]
    source: str


@dataclass
class ClusterStats:
    """Counters of what one lab cluster saw; ``lab.stats(name)`` returns a copy."""

    requests: int = 0
    verbs: Counter[str] = field(default_factory=Counter)
    tokens_accepted: int = 0
    tokens_rejected: int = 0
    static_tokens_accepted: int = 0
    unauthorized: int = 0
    forbidden: int = 0
    faults_injected: int = 0
    watches_opened: int = 0
    watches_dropped: int = 0
    identities: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)

    def copy(self) -> ClusterStats:
        """An independent snapshot."""
        return ClusterStats(
            self.requests,
            Counter(self.verbs),
            self.tokens_accepted,
            self.tokens_rejected,
            self.static_tokens_accepted,
            self.unauthorized,
            self.forbidden,
            self.faults_injected,
            self.watches_opened,
            self.watches_dropped,
            Counter(self.identities),
            Counter(self.rejections),
        )


class ClusterState:
    """The server-side state of one lab cluster."""

    def __init__(self, name: str, region: str, now: Callable[[], datetime]) -> None:
        self.name = name
        self.region = region
        self.types = TypeRegistry()
        self.store = ObjectStore(now)
        self.static_tokens: dict[str, LabUser] = {}
        self.default_static_token = ""
        self.revoked_before: datetime | None = None
        self.revoked_hashes: set[str] = set()
        self.seen_hashes: dict[str, datetime] = {}
        self.fault: Fault | None = None
        #: answer ``/api`` and ``/apis`` with aggregated discovery when asked (Kubernetes
        #: 1.30+, as the lab's version says); False answers like a pre-1.26 server
        self.aggregated_discovery = True
        self.stats = ClusterStats()
        self.pager = Pager()
        self.logs = LogBook()
        self.port_targets: dict[tuple[str, str, int], tuple[str, int]] = {}
        self.rotate_default_static_token()

    def rotate_default_static_token(self) -> str:
        """Issue a new admin static token for this cluster (the old one stops working)."""
        self.static_tokens.pop(self.default_static_token, None)
        token = "lab-static-" + secrets.token_urlsafe(24)
        self.default_static_token = token
        self.static_tokens[token] = LabUser("lab-admin", ("system:masters",), "static")
        return token

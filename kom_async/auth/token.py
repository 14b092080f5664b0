"""The token model and the interface every token source implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token and when it stops being usable (aware UTC, or None if unknown).

    The value never appears in ``repr()`` or ``str()``; equality is identity so a
    provider can tell "the token that failed" from "a newer token".
    """

    value: str = field(repr=False)
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("Token.expires_at must be timezone-aware (UTC)")

    def __repr__(self) -> str:
        exp = self.expires_at.isoformat() if self.expires_at else None
        return f"Token(value=<redacted {len(self.value)} chars>, expires_at={exp})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


@runtime_checkable
class TokenSource(Protocol):
    """Something that can fetch a fresh token: an exec plugin, the native EKS presigner..."""

    #: short name used in logs and stats: "exec", "eks-native", "static", "token-file"
    kind: str

    async def fetch(self) -> Token:
        """Fetch a new token. Raise a ``KomError`` subclass on failure."""
        ...

    async def aclose(self) -> None:
        """Release what the source holds (sessions, clients)."""
        ...

"""Suite-wide checks: secrets in log records and errors, and leaked asyncio tasks/sessions.

Secrets are learnt as the suite creates them (every Token built, every AWS secret key and
session token the lab hands out), plus patterns that only a token or signature can match.
asyncio's own complaints ("Task was destroyed but it is pending", "Unclosed client
session"...) are collected so a test that leaks fails.
"""

from __future__ import annotations

import logging
import re
import threading

PATTERNS = [
    re.compile(r"k8s-aws-v1\.[A-Za-z0-9_\-]{16,}"),
    re.compile(r"X-Amz-Signature=[0-9a-fA-F]{16,}"),
    re.compile(r"X-Amz-Security-Token=[^&\s]{8,}"),
    re.compile(r"Bearer\s+[A-Za-z0-9._\-]{8,}"),
]


class LeakDetector(logging.Handler):
    """A logging handler that records every message containing a known secret."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.secrets: set[str] = set()
        self.leaks: list[str] = []
        self.records = 0
        self._guard = threading.Lock()

    def learn(self, value: str | None) -> None:
        if value and len(value) >= 8 and not value.startswith("k8s-aws-v1."):
            with self._guard:
                self.secrets.add(value)

    def find(self, text: str) -> str | None:
        for pattern in PATTERNS:
            match = pattern.search(text)
            if match:
                return match.group(0)[:24] + "..."
        with self._guard:
            secrets = list(self.secrets)
        for secret in secrets:
            if secret in text:
                return secret[:4] + "..."
        return None

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            text = record.getMessage()
        except Exception:  # a broken record is not a leak
            return
        if record.exc_info and record.exc_info[1] is not None:
            text += " " + repr(record.exc_info[1]) + " " + str(record.exc_info[1])
        hit = self.find(text)
        if hit is not None:
            with self._guard:
                self.leaks.append(f"{record.name}:{record.levelname}: contains {hit!r}")


detector = LeakDetector()

#: asyncio/aiohttp complaints that mean something was leaked
HYGIENE = (
    "Task was destroyed but it is pending",
    "Unclosed client session",
    "Unclosed connector",
    "Unclosed response",
    "Task exception was never retrieved",
    "Future exception was never retrieved",
)


class AsyncioHygiene(logging.Handler):
    """Collects the asyncio complaints that mean a task, session or connector was leaked."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.complaints: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            return
        if any(p in text for p in HYGIENE):
            self.complaints.append(text.splitlines()[0][:300])


#: installed on the asyncio logger by tests/conftest.py for the whole run
hygiene = AsyncioHygiene()


def exception_texts(exc: BaseException) -> list[str]:
    """``str`` and ``repr`` of an exception and of its cause/context chain."""
    out: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        try:
            out += [str(current), repr(current)]
        except Exception:  # a half-built error; not a leak
            pass
        current = current.__cause__ or current.__context__
    return out

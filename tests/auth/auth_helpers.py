"""Helpers for the auth tests: a manual clock, a counting token source, plugin scripts."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kom_async.auth.token import Token
from kom_async.errors import EKSAuthError, EKSAuthErrorKind


class ManualClock:
    """Virtual time for provider tests: ``now``/``time`` move only on ``advance``."""

    def __init__(self) -> None:
        self._t = datetime(2026, 1, 1, tzinfo=UTC).timestamp()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    def time(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


class CountingSource:
    """A token source that counts fetches, can be slowed, gated or made to fail."""

    kind = "test"

    def __init__(self, clock: ManualClock, lifetime: float | None = 840.0, delay: float = 0.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.delay = delay
        self.fetches = 0
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.closed = False

    async def fetch(self) -> Token:
        self.fetches += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        exp = None if self.lifetime is None else self.clock.now() + timedelta(seconds=self.lifetime)
        return Token(f"tok-{self.fetches}-secretvalue", exp)

    async def aclose(self) -> None:
        self.closed = True


def network_error() -> EKSAuthError:
    return EKSAuthError(EKSAuthErrorKind.NetworkError, "STS unreachable")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_plugin(tmp_path: Path) -> Callable[[str], str]:
    """Write an executable Python script (a real exec plugin) and return its path."""
    counter = iter(range(1000))

    def make(body: str) -> str:
        path = tmp_path / f"plugin{next(counter)}"
        path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return str(path)

    return make


def pids_alive(pids: list[int]) -> list[int]:
    """Which of ``pids`` still run, or are zombies we failed to reap.

    A killed grandchild is reparented to init and reaped there, so its zombie state
    (if init is slow) is not ours to clean and does not count.
    """
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        state, ppid = fields[0], int(fields[1])
        if state == "Z" and ppid != os.getpid():
            continue
        alive.append(pid)
    return alive

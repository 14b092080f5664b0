"""Helpers for the reliability suite: leak accounting, fake token sources, plugins, servers."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import ssl
import stat
import sys
import textwrap
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from leakcheck import AsyncioHygiene, exception_texts, hygiene

from kom_async.auth.token import Token

__all__ = ["AsyncioHygiene", "exception_texts", "hygiene"]  # re-exported for the tests here

V1B1 = "client.authentication.k8s.io/v1beta1"

#: examples run per fuzz target; conftest.py prints them in the session summary (RELIABILITY.md)
FUZZ_EXAMPLES: Counter[str] = Counter()


def open_fds() -> set[int]:
    """File descriptors this process holds (psutil-free: /proc/self/fd)."""
    return {int(n) for n in os.listdir("/proc/self/fd")}


def fd_kinds(fds: set[int]) -> dict[int, str]:
    """What each fd points at (socket:[...], pipe:[...], a path)."""
    kinds = {}
    for fd in fds:
        with contextlib.suppress(OSError):
            kinds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return kinds


def kom_tasks() -> list[asyncio.Task[object]]:
    """Unfinished tasks kom-async started (refresh loops, fetches)."""
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("kom-async:") and not t.done()]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs or is a zombie this process failed to reap."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return not (fields[0] == "Z" and int(fields[1]) != os.getpid())


def write_plugin(folder: Path, name: str, body: str) -> str:
    """An executable Python script used as an exec credential plugin."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def plugin_kubeconfig(server: str, ca_data: str, command: str, *, name: str = "c") -> str:
    """A kubeconfig whose user runs ``command`` as a (non-EKS) exec plugin."""
    import yaml

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": name, "user": {"exec": {"apiVersion": V1B1, "command": command}}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return yaml.safe_dump(doc)


# -- a controllable plugin: its behaviour is read from a file on every run -------------------
#
# mode file contents: "ok <token> <lifetime s>" | "fail" | "hang" | "slow <seconds> <token> <lifetime>"
#   | "gated <file> <token> <lifetime>" (answers once <file> exists: no wall-clock guess)
CONTROLLED_PLUGIN = """
import json, os, sys, time, datetime
mode = open(os.environ["KOM_TEST_MODE_FILE"]).read().split()
with open(os.environ["KOM_TEST_RUNS_FILE"], "a") as fh:
    fh.write(f"{os.getpid()} {mode[0]}\\n")
def emit(token, lifetime):
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        text = open(os.environ["KOM_TEST_NOW_FILE"]).read().strip()
        if text:
            now = datetime.datetime.fromisoformat(text)
    except OSError:
        pass
    exp = (now + datetime.timedelta(seconds=float(lifetime))).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(json.dumps({"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1",
                      "status": {"token": token, "expirationTimestamp": exp}}))
if mode[0] == "ok":
    emit(mode[1], mode[2])
elif mode[0] == "slow":
    time.sleep(float(mode[1])); emit(mode[2], mode[3])
elif mode[0] == "gated":
    while not os.path.exists(mode[1]):
        time.sleep(0.01)
    emit(mode[2], mode[3])
elif mode[0] == "hang":
    time.sleep(600)
else:
    sys.stderr.write("plugin: upstream identity provider unreachable\\n"); sys.exit(1)
"""


class ControlledPlugin:
    """A real exec plugin whose next answer a test sets: ok, fail, hang, slow, gated."""

    def __init__(self, folder: Path, name: str = "aws-iam-authenticator") -> None:
        self.mode_file = folder / "mode"
        self.runs_file = folder / "runs"
        self.now_file = folder / "now"
        self.runs_file.write_text("")
        self.path = write_plugin(folder, name, CONTROLLED_PLUGIN)
        self.set("fail")

    def set(self, *mode: object) -> None:
        self.mode_file.write_text(" ".join(str(m) for m in mode))

    def set_now(self, when: datetime) -> None:
        """The time the plugin computes expiries from (for virtual-clock tests)."""
        self.now_file.write_text(when.isoformat())

    @property
    def env(self) -> dict[str, str]:
        return {
            "KOM_TEST_MODE_FILE": str(self.mode_file),
            "KOM_TEST_RUNS_FILE": str(self.runs_file),
            "KOM_TEST_NOW_FILE": str(self.now_file),
        }

    def runs(self) -> list[tuple[int, str]]:
        out = []
        for line in self.runs_file.read_text().splitlines():
            pid, mode = line.split()
            out.append((int(pid), mode))
        return out


# -- a fake token source for long runs ----------------------------------------------------------


class SimClock:
    """Virtual time for simulations: sleepers wake only when the driver advances time.

    ``sleeping`` is a counter (O(1)), so a driver can cheaply wait for every task to be
    asleep again after waking some.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._t = (start or datetime(2026, 1, 1, tzinfo=UTC)).timestamp()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self.sleeping = 0

    def time(self) -> float:
        return self._t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self._t + seconds, self._seq, fut))
        self.sleeping += 1
        try:
            await fut
        finally:
            if not fut.done() or fut.cancelled():  # not woken by advance_to: cancelled
                fut.cancel()
                self.sleeping -= 1

    def next_deadline(self) -> float | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance_to(self, when: float) -> int:
        """Move time to ``when`` and wake every sleeper due by then; return how many woke."""
        self._t = max(self._t, when)
        woke = 0
        while self._sleepers and self._sleepers[0][0] <= self._t:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
                self.sleeping -= 1  # counted as awake from now, before its task runs
                woke += 1
        return woke


async def settle(predicate: Callable[[], bool], *, spins: int = 10_000) -> None:
    """Let the loop run until ``predicate()`` holds (bounded)."""
    for _ in range(spins):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the event loop did not settle")


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.01) -> None:
    """Poll ``predicate()`` in real time until true or ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


def token_for(clock: SimClock, value: str, lifetime: float) -> Token:
    return Token(value, clock.now() + timedelta(seconds=lifetime))


# -- a raw TLS server that misbehaves on purpose ------------------------------------------------

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_tls_server(
    ssl_ctx: ssl.SSLContext, behaviour: Behaviour, *, port: int = 0
) -> AsyncIterator[int]:
    """A TLS server on 127.0.0.1 running ``behaviour`` per connection; yields its port."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await behaviour(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", port, ssl=ssl_ctx)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP request head (our clients send GETs without bodies in these tests)."""
    return await reader.readuntil(b"\r\n\r\n")

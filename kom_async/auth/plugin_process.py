"""Run one exec plugin process for as long as the plugin itself runs, and no longer.

Its output goes to pipes we own and read whenever they are readable (bounded); its end is the
exit of the process we started, never the end of its pipes, which a descendant that left the
process group (``setsid``) can hold forever. At its exit or timeout its whole process group is
killed and reaped, and our pipe ends are closed after a short grace, whatever holds the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio

MAX_STDOUT = 1024 * 1024  # an ExecCredential is a few KB; more is a broken plugin
STDERR_TAIL = 16 * 1024  # keep only the end of stderr for error messages
#: after the plugin exited and its group was killed: how long its pipes may take to reach EOF
#: before we close our ends anyway (only a process outside the group can hold them longer)
DRAIN_GRACE = 1.0
_CHUNK = 65536
_CHUNKS_PER_WAKEUP = 16  # a flooding plugin cannot keep the event loop in one callback
_FINAL_DRAIN = 2 * 1024 * 1024  # more than a pipe can hold (Linux: at most 1 MiB by default)


@dataclass(frozen=True)
class PluginRun:
    """What one run produced."""

    stdout: bytes  # at most MAX_STDOUT bytes
    stderr_tail: bytes  # the last STDERR_TAIL bytes
    overflow: bool  # stdout was longer than MAX_STDOUT (and was cut)
    exit_code: int | None  # None: it did not exit within the timeout and was killed
    held: tuple[str, ...]  # "stdout"/"stderr" still open at the writing end when we closed ours


class _Pipe:
    """Our reading end of one of the plugin's output pipes, read whenever it is readable."""

    def __init__(self, limit: int, *, tail: bool) -> None:
        self._limit, self._tail = limit, tail
        self.data = bytearray()
        self.overflow = False
        self.eof = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        read_fd, write_fd = os.pipe()  # both close-on-exec: no other child inherits them
        self._read_fd: int | None = read_fd
        self.write_fd: int | None = write_fd
        os.set_blocking(read_fd, False)

    def start(self) -> None:
        self.close_write()  # only the plugin (and what it starts) holds the writing end now
        self._loop = asyncio.get_running_loop()
        assert self._read_fd is not None
        self._loop.add_reader(self._read_fd, self._pump, _CHUNKS_PER_WAKEUP * _CHUNK)

    def _pump(self, budget: int) -> None:
        """Read what the pipe holds now, up to ``budget`` bytes, without blocking."""
        while budget > 0 and self._read_fd is not None and not self.eof.is_set():
            try:
                chunk = os.read(self._read_fd, _CHUNK)
            except BlockingIOError:
                return
            if not chunk:
                self._stop_reading()
                self.eof.set()
                return
            budget -= len(chunk)
            self._keep(chunk)

    def _keep(self, chunk: bytes) -> None:
        if self._tail:
            self.data.extend(chunk)
            if len(self.data) > self._limit:
                del self.data[: len(self.data) - self._limit]
        elif len(self.data) + len(chunk) > self._limit:
            self.overflow = True  # keep reading so the plugin is not blocked on a full pipe
        else:
            self.data.extend(chunk)

    def _stop_reading(self) -> None:
        if self._loop is not None and self._read_fd is not None:
            self._loop.remove_reader(self._read_fd)
            self._loop = None

    def close_write(self) -> None:
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def close(self) -> None:
        """Take what is already in the pipe, then close our end (a writer left gets EPIPE)."""
        self.close_write()
        if self._read_fd is not None:
            self._pump(_FINAL_DRAIN)
            self._stop_reading()
            os.close(self._read_fd)
            self._read_fd = None


async def run_plugin(
    command: str, args: Sequence[str], env: Mapping[str, str], *, timeout: float, groups: set[int]
) -> PluginRun:
    """Run ``command`` with ``args`` and ``env`` in a new session and collect its output.

    Spawn errors (``OSError``, ``ValueError``) propagate. ``groups`` holds the process group of
    the run while it is alive, for an owner that must kill it from outside.
    """
    with contextlib.ExitStack() as pipes:
        out = _Pipe(MAX_STDOUT, tail=False)
        pipes.callback(out.close)
        err = _Pipe(STDERR_TAIL, tail=True)
        pipes.callback(err.close)
        proc = await asyncio.create_subprocess_exec(
            command,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out.write_fd,
            stderr=err.write_fd,
            env=dict(env),
            start_new_session=True,  # its own process group, so its children go with it
        )
        out.start()
        err.start()
        groups.add(proc.pid)
        try:
            with anyio.move_on_after(timeout) as deadline:
                # the transport has no pipes of its own: this returns at the plugin's own exit
                await proc.wait()
        finally:
            await _kill_and_reap(proc)  # also on success: what it left in its group goes too
            groups.discard(proc.pid)
        with anyio.move_on_after(DRAIN_GRACE):
            await out.eof.wait()
            await err.eof.wait()
    held = tuple(name for name, pipe in (("stdout", out), ("stderr", err)) if not pipe.eof.is_set())
    return PluginRun(
        stdout=bytes(out.data),
        stderr_tail=bytes(err.data),
        overflow=out.overflow,
        exit_code=None if deadline.cancelled_caught else proc.returncode,
        held=held,
    )


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in a plugin's process group (its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _kill_and_reap(proc: asyncio.subprocess.Process) -> None:
    """Kill the plugin's whole process group and wait for the plugin itself to be reaped.

    The group is killed even when the plugin has exited: children it started may still run.
    The wait is shielded (abandoned half-way, the plugin would stay a zombie) and ends at the
    plugin's exit: no pipe is part of it.
    """
    kill_group(proc.pid)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with anyio.CancelScope(shield=True):
        await proc.wait()

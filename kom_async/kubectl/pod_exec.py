"""Pod exec over the Kubernetes channel WebSocket protocol (``kubectl exec``).

Each binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the
command's final ``Status`` (its exit code), 4 terminal resize. ``v5.channel.k8s.io`` adds
channel 255 to close one stream (how stdin reaches EOF); ``v4.channel.k8s.io`` is the
fallback and has no way to close stdin.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from kom_async.config.limits import TRUSTED_LIMITS
from kom_async.errors import ExecError, QueryError, ResponseTooLarge
from kom_async.transport import ws as websocket
from kom_async.transport.rest import Target

log = logging.getLogger("kom_async.kubectl")

V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)
"""Offered in this order; the server picks the newest it speaks."""

STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255
_STDIN_CHUNK = 32 * 1024  # bytes per stdin message (well under any server's message limit)


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a finished command left: its output, and its exit code from the status channel."""

    stdout: bytes
    stderr: bytes
    exit_code: int

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0


def check_command(command: object) -> list[str]:
    """The command as a list of strings, or a QueryError saying how to pass it."""
    if isinstance(command, (str, bytes)):
        raise QueryError(
            "exec() takes the command as a list of arguments, e.g. ['sh', '-c', 'echo hi'], not one string"
        )
    if not isinstance(command, Sequence) or not command:
        raise QueryError("exec() needs a non-empty list of arguments, e.g. ['ls', '-l']")
    if not all(isinstance(arg, str) for arg in command):
        raise QueryError("every exec() argument must be a str")
    return list(command)


def exit_code_of(status: dict[str, Any]) -> int:
    """The exit code in a status-channel ``Status``; ExecError when the command did not run."""
    if status.get("status") == "Success":
        return 0
    details = status.get("details")
    details = details if isinstance(details, dict) else {}
    for cause in details.get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", ""))
            except ValueError:
                break
    raise ExecError(
        f"the command did not run: {status.get('message') or 'no message from the server'}",
        status=status,
    )


class ExecSession:
    """A running command: write its stdin, read its stdout/stderr, wait for its exit code.

    Use it as ``async with pod.exec_stream([...]) as proc:``. ``proc.stdout`` and
    ``proc.stderr`` are async iterators of byte chunks; output of a stream you do not read
    is kept until you do (or until the session ends), at most ``max_output`` bytes of it:
    beyond that the session raises ``ResponseTooLarge``. ``await proc.wait()`` reads to the
    end and returns the exit code. Leaving the block closes the WebSocket.
    """

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        target: Target,
        *,
        stdin: bool,
        max_output: int = TRUSTED_LIMITS.max_exec_output,
    ) -> None:
        self._ws = ws
        self._max_output = max_output
        self._held = 0  # bytes of output received and not yet read
        self._overflowed = False  # past max_output: the session is dropped, not closed politely
        self._target = target
        self._stdin_open = stdin
        self._buffers: dict[int, collections.deque[bytes]] = {
            STDOUT: collections.deque(),
            STDERR: collections.deque(),
        }
        self._pump_lock = asyncio.Lock()
        self._status: dict[str, Any] | None = None
        self._eof = False
        self.exit_code: int | None = None
        """The command's exit code, once :meth:`wait` returned it."""

    @property
    def protocol(self) -> str:
        """The channel protocol the server chose (``v5.channel.k8s.io`` or ``v4...``)."""
        return str(self._ws.protocol)

    def __repr__(self) -> str:
        return f"ExecSession({self._target.namespace}/{self._target.name}, exit_code={self.exit_code})"

    async def __aenter__(self) -> ExecSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the WebSocket (the server then ends the command's streams); idempotent."""
        self._eof = True
        await websocket.close(self._ws, grace=0 if self._overflowed else websocket.CLOSE_GRACE)

    # -- stdin ---------------------------------------------------------------------

    async def write(self, data: bytes | str) -> None:
        """Send ``data`` to the command's stdin (str is sent as UTF-8)."""
        if not self._stdin_open:
            raise ExecError("stdin is closed (or was not requested: pass stdin=True to exec_stream())")
        raw = data.encode() if isinstance(data, str) else bytes(data)
        for start in range(0, len(raw), _STDIN_CHUNK):
            await self._ws.send_bytes(bytes([STDIN]) + raw[start : start + _STDIN_CHUNK])

    async def close_stdin(self) -> None:
        """Signal EOF on stdin (v5 only: under v4 the protocol cannot, and this only warns)."""
        if not self._stdin_open:
            return
        self._stdin_open = False
        if self._ws.protocol == V5:
            await self._ws.send_bytes(bytes([CLOSE, STDIN]))
        else:
            log.warning("%r: the server speaks %s, which cannot close stdin", self, self._ws.protocol)

    # -- output ----------------------------------------------------------------------

    @property
    def stdout(self) -> AsyncIterator[bytes]:
        """The command's stdout, chunk by chunk, until it ends."""
        return self._chunks(STDOUT)

    @property
    def stderr(self) -> AsyncIterator[bytes]:
        """The command's stderr, chunk by chunk, until it ends."""
        return self._chunks(STDERR)

    async def wait(self) -> int:
        """Read to the end of the command and return its exit code (ExecError if it never ran)."""
        while not self._eof:
            await self._pump()
        if self.exit_code is not None:
            return self.exit_code
        if self._status is None:
            raise ExecError(
                "the connection ended before the command's exit status arrived "
                f"[{self._target.kind}/{self._target.namespace}/{self._target.name}]"
            )
        self.exit_code = exit_code_of(self._status)
        return self.exit_code

    def drain(self, channel: int) -> bytes:
        """Everything buffered (and not yet read) on ``channel``."""
        buffer = self._buffers[channel]
        data = b"".join(buffer)
        buffer.clear()
        self._held -= len(data)
        return data

    async def _chunks(self, channel: int) -> AsyncIterator[bytes]:
        buffer = self._buffers[channel]
        while True:
            while not buffer:
                if self._eof:
                    return
                await self._pump()
            chunk = buffer.popleft()
            self._held -= len(chunk)
            yield chunk

    async def _pump(self) -> None:
        """Read one message and file it under its channel; one reader at a time."""
        async with self._pump_lock:
            if self._eof:
                return
            msg = await self._ws.receive()
            if msg.type is not aiohttp.WSMsgType.BINARY:
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                    return  # we offered binary protocols only; nothing to read from these
                self._eof = True  # CLOSE, CLOSING, CLOSED or ERROR: the command is over
                return
            data: bytes = msg.data
            if not data:
                return
            channel, payload = data[0], data[1:]
            if channel in self._buffers:
                if payload:
                    self._hold(channel, payload)
            elif channel == ERROR and payload:
                self._status = _parse_status(payload)

    def _hold(self, channel: int, payload: bytes) -> None:
        """Keep ``payload`` for its reader, unless the output held would pass ``max_output``."""
        self._held += len(payload)
        if self._held > self._max_output:
            self._eof = self._overflowed = True
            raise ResponseTooLarge(
                f"the command in pod {self._target.namespace}/{self._target.name} wrote more than "
                f"{self._max_output:,} bytes of output that were not read (max_output); pass a larger "
                "exec(max_output=...), read it as it comes with exec_stream(), or raise "
                "Limits.max_exec_output for this cluster",
                limit="max_exec_output",
                size=self._max_output,
            )
        self._buffers[channel].append(payload)


def _parse_status(payload: bytes) -> dict[str, Any]:
    try:
        status = json.loads(payload)
    except ValueError:
        status = None
    if not isinstance(status, dict):  # old servers sent the error text itself
        text = payload.decode("utf-8", "replace")[:2000]
        return {"status": "Failure", "message": text}
    return status

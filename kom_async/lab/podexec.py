"""``pods/exec``: a simulated command in a lab container, over the Kubernetes WebSocket protocol.

GET ``.../pods/{name}/exec?command=...&stdin=&stdout=&stderr=&tty=&container=`` upgraded to a
WebSocket with ``v5.channel.k8s.io`` (or ``v4.channel.k8s.io``). The exit code comes back as a
``metav1.Status`` on channel 3, then the server closes the socket, as the kubelet does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from kom_async.lab import channels, execsim
from kom_async.lab.channels import CLOSE, ERROR, RESIZE, STDERR, STDIN, STDOUT, V4, V5
from kom_async.lab.podparams import pick_container, query_flag
from kom_async.lab.status import ApiError

log = logging.getLogger("kom_async.lab.podexec")
Obj = dict[str, Any]
SUPPORTED = (V5, V4)
STDIN_BACKLOG = 16  # stdin frames buffered before the server stops reading the socket


def _environment(pod: Obj, container: Obj) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME": str(pod["metadata"]["name"]),
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    for entry in container.get("env") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            value = entry.get("value")
            env[entry["name"]] = value if isinstance(value, str) else ""
    return env


def _files(pod: Obj) -> dict[str, bytes]:
    meta = pod["metadata"]
    return {
        "/etc/hostname": f"{meta['name']}\n".encode(),
        "/var/run/secrets/kubernetes.io/serviceaccount/namespace": str(meta.get("namespace", "")).encode(),
    }


async def serve_exec(
    request: web.Request, pod: Obj, sleep: Callable[[float], Awaitable[None]]
) -> web.StreamResponse:
    """Validate the exec request like the API server, then run the session on a WebSocket."""
    argv = request.query.getall("command", [])
    stdin, stdout, stderr, tty = (query_flag(request, n) for n in ("stdin", "stdout", "stderr", "tty"))
    name = str(pod["metadata"]["name"])
    if not argv:
        raise ApiError(400, "you must specify at least one command for the container", reason="BadRequest")
    if not (stdin or stdout or stderr):
        raise ApiError(400, "you must specify at least 1 of stdin, stdout, stderr", reason="BadRequest")
    container = pick_container(pod, request.query.get("container"), name)
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise ApiError(
            400,
            f"cannot exec into a container in a completed pod; current phase is {phase}",
            reason="BadRequest",
        )
    if not channels.is_websocket_upgrade(request):
        raise ApiError(400, "Upgrade request required", reason="BadRequest")
    protocol = channels.negotiate(request, SUPPORTED)
    if protocol is None:
        return channels.protocol_refusal(request, SUPPORTED)
    ws = await channels.open_socket(request, protocol)
    session = ExecSession(ws, protocol, argv, stdin=stdin, stdout=stdout, stderr=stderr and not tty, tty=tty)
    io = execsim.ExecIO(
        session.stdin, session.write_out, session.write_err, _environment(pod, container), sleep, _files(pod)
    )
    io.tty = tty
    await session.run(io)
    return ws


class ExecSession:
    """One exec stream: reads stdin/resize/close frames, runs the command, reports its status."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        protocol: str,
        argv: list[str],
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
    ) -> None:
        self.ws, self.protocol, self.argv = ws, protocol, argv
        self.want_stdin, self.want_stdout, self.want_stderr, self.tty = stdin, stdout, stderr, tty
        self.stdin: asyncio.Queue[bytes | None] = asyncio.Queue(STDIN_BACKLOG)
        self.stdin_closed = False
        self.io: execsim.ExecIO | None = None

    async def _send(self, channel: int, data: bytes) -> None:
        if self.tty and channel in (STDOUT, STDERR):
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # the tty's onlcr
        await self.ws.send_bytes(channels.frame(channel, data))

    async def write_out(self, data: bytes) -> None:
        """The process's stdout."""
        if self.want_stdout and data:
            await self._send(STDOUT, data)

    async def write_err(self, data: bytes) -> None:
        """The process's stderr (merged into stdout on a tty, as a terminal does)."""
        if self.tty:
            await self.write_out(data)
        elif self.want_stderr and data:
            await self._send(STDERR, data)

    async def _close_stdin(self) -> None:
        if not self.stdin_closed:
            self.stdin_closed = True
            await self.stdin.put(None)

    async def run(self, io: execsim.ExecIO) -> None:
        """Serve until the command ends (status, then close) or the client goes away (cancel)."""
        self.io = io
        if not self.want_stdin:
            await self._close_stdin()
        lowest = STDOUT if self.want_stdout else STDERR if self.want_stderr else ERROR
        await self.ws.send_bytes(channels.frame(lowest, b""))  # "streams are open", as the kubelet does
        reader = asyncio.create_task(self._read(), name="kom-async:lab:exec-reader")
        command = asyncio.create_task(self._command(io), name="kom-async:lab:exec-command")
        try:
            done, _ = await asyncio.wait({reader, command}, return_when=asyncio.FIRST_COMPLETED)
            if command in done and not command.cancelled() and command.exception() is None:
                status = command.result()
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                with contextlib.suppress(ConnectionError):
                    await self.ws.send_bytes(channels.frame(ERROR, channels.status_bytes(status)))
                    await self.ws.close()
        finally:
            for task in (reader, command):
                task.cancel()
            for outcome in await asyncio.gather(reader, command, return_exceptions=True):
                if isinstance(outcome, Exception) and not isinstance(outcome, ConnectionError):
                    log.error("lab exec session failed", exc_info=outcome)

    async def _command(self, io: execsim.ExecIO) -> dict[str, Any]:
        try:
            code = await execsim.run(self.argv, io)
        except ConnectionError:
            raise  # the client went away mid-write; nobody is left to tell
        except execsim.ExecNotFound as exc:
            return channels.internal_error_status(
                "error executing command in container: failed to exec in container: "
                f'failed to start exec "{secrets.token_hex(32)}": '
                "OCI runtime exec failed: exec failed: unable to start container process: "
                f'exec: "{exc}": executable file not found in $PATH: unknown'
            )
        return channels.exit_status(code, self.argv)

    async def _read(self) -> None:
        """Client frames: stdin data, resize, v5 close; others are ignored as the server does."""
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue  # text frames and empty frames carry nothing on the binary protocol
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and self.want_stdin and not self.stdin_closed and data:
                await self.stdin.put(bytes(data))
            elif channel == RESIZE and self.tty and self.io is not None:
                self.io.tty_size = _resize(data) or self.io.tty_size
            elif channel == CLOSE and self.protocol == V5 and data == bytes((STDIN,)):
                await self._close_stdin()


def _resize(data: bytes) -> tuple[int, int] | None:
    """``{"Width": w, "Height": h}`` as (rows, cols); None for anything malformed."""
    try:
        size = json.loads(data)
        width, height = size["Width"], size["Height"]
    except (ValueError, TypeError, KeyError):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535 for v in (width, height)):
        return None
    return height, width

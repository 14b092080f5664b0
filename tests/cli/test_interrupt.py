"""Ctrl-C on any ``kom-async`` command: one line on stderr, exit status 130, no traceback.

Each test runs the real command as a subprocess, waits until it is mid-flight (it connected to
a silent listener on 127.0.0.1, or the lab said it is ready) and sends it a real SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@asynccontextmanager
async def silent_listener() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A server on 127.0.0.1 that accepts and never answers; the event is set on a connection."""
    connected = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        connected.set()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], connected
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def start(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kom_async.cli", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


async def interrupt(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def assert_one_line(err: str, command: str) -> None:
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines() == [f"kom-async {command}: interrupted"], err


async def test_ctrl_c_on_clusters_check_is_one_line_and_exit_130(tmp_path: Path) -> None:
    async with silent_listener() as (port, connected):
        kubeconfig = tmp_path / "hangs.yaml"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}]\n"
            "users: [{name: u, user: {token: not-a-secret}}]\n"
            "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        )
        proc = await start("clusters", "check", "--kubeconfig", str(kubeconfig), "--timeout", "600")
        await asyncio.wait_for(connected.wait(), 60)
        code, _out, err = await interrupt(proc)
    assert code == 130
    assert_one_line(err, "clusters")


async def test_ctrl_c_on_eks_get_token_is_one_line_and_exit_130() -> None:
    """get-token mid-AssumeRole (to a listener that never answers) when Ctrl-C comes."""
    async with silent_listener() as (port, connected):
        env = {
            "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }
        proc = await start(
            "eks", "get-token", "--cluster-name", "c1", "--region", "us-east-1",
            "--role-arn", "arn:aws:iam::123456789012:role/r", env=env,
        )  # fmt: skip
        await asyncio.wait_for(connected.wait(), 60)
        code, out, err = await interrupt(proc)
    assert code == 130 and out == ""
    assert_one_line(err, "eks")


async def test_ctrl_c_on_the_lab_stops_it_with_exit_130(tmp_path: Path) -> None:
    proc = await start("lab", "--dir", str(tmp_path / "lab"))
    assert proc.stdout is not None
    while b"press Ctrl-C" not in (line := await asyncio.wait_for(proc.stdout.readline(), 120)):
        assert line, "the lab exited before it was ready"
    code, out, err = await interrupt(proc)
    assert code == 130
    assert "kom-async lab: stopped" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err

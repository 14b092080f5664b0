"""Waiting for a child process in a test without ever leaving it behind."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path


async def communicate(
    proc: asyncio.subprocess.Process, timeout: float, data: bytes | None = None
) -> tuple[bytes, bytes]:
    """``proc.communicate(data)`` within ``timeout`` seconds. On a timeout, on pytest-timeout's
    interruption or on cancellation the child is killed and reaped before the error goes on."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), timeout)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return out or b"", err or b""


async def run_pytest(
    *args: str, cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run ``python -m pytest -q -p no:cacheprovider *args`` in ``cwd``; its exit status and its
    output (stdout and stderr together). The child is killed if the test ends first."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await communicate(proc, timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode()

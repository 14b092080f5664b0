"""Waiting for a child process in a test without ever leaving it behind."""

from __future__ import annotations

import asyncio


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

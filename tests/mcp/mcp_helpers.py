"""Start the MCP server for real (stdio subprocess or HTTP subprocess) and read tool results."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from kom_async.lab import EKSLab

REPO = Path(__file__).resolve().parents[2]


def server_env(lab: EKSLab, **extra: str) -> dict[str, str]:
    """What the server process needs: PATH (for aws), the lab's AWS settings, extras."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(lab.aws_env)
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def stdio_client(lab: EKSLab, *args: str) -> AsyncIterator[Client]:
    """An MCP client talking to ``kom-async mcp ARGS`` over the subprocess's stdin/stdout."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "kom_async.cli", "mcp", "--log-level", "WARNING", *args],
        env=server_env(lab),
        cwd=str(REPO),
    )
    async with Client(params) as client:
        yield client


async def held(
    factory: Callable[[], contextlib.AbstractAsyncContextManager[Client]],
) -> AsyncIterator[Client]:
    """Keep a client open in its own task, so a module fixture can share it across tests.

    The transport's task group is entered and exited in that one task, as anyio requires;
    tests only send requests through the client, which works from any task.
    """
    ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def hold() -> None:
        try:
            async with factory() as client:
                ready.set_result(client)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    task = asyncio.create_task(hold(), name="mcp-test-client")
    try:
        yield await ready
    finally:
        stop.set()
        await task


class HTTPServer:
    """``kom-async mcp --transport http`` as a subprocess on a free 127.0.0.1 port."""

    def __init__(self, url: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    @classmethod
    @contextlib.asynccontextmanager
    async def run(
        cls,
        lab: EKSLab,
        *args: str,
        key: str | None = None,
        host: str = "127.0.0.1",
        nofile: int | None = None,
    ) -> AsyncIterator[HTTPServer]:
        """Start the server on ``host``, wait for its 'listening' line, stop and reap it on exit;
        ``nofile``: run it under ``ulimit -n nofile`` (sh execs the server: same pid)."""
        extra = {"KOM_ASYNC_MCP_AUTH_KEY": key} if key else {}
        limit = ["sh", "-c", 'ulimit -n "$0" && exec "$@"', str(nofile)] if nofile else []
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "server.log"
            with _open_sink(log) as sink:
                process = await asyncio.create_subprocess_exec(
                    *limit,
                    sys.executable,
                    "-m",
                    "kom_async.cli",
                    "mcp",
                    "--transport",
                    "http",
                    "--host",
                    host,
                    "--port",
                    "0",
                    "--log-level",
                    "WARNING",
                    *args,
                    env=server_env(lab, **extra),
                    cwd=str(REPO),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=sink,
                )
            try:
                url = await cls._wait_for_url(log, process, host)
                yield cls(url, process, log)
            finally:
                if process.returncode is None:
                    process.terminate()
                    try:
                        await asyncio.wait_for(process.wait(), 10)
                    except TimeoutError:
                        process.kill()
                        await process.wait()

    @staticmethod
    async def _wait_for_url(log: Path, process: asyncio.subprocess.Process, host: str) -> str:
        for _ in range(300):
            match = re.search(rf"http://{re.escape(host)}:\d+/mcp", _read(log))
            if match:
                return match.group(0)
            if process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"the MCP server did not start:\n{_read(log)}")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def rss_kib(self) -> int:
        """The server process's resident memory now (Linux /proc), in KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]

    @contextlib.asynccontextmanager
    async def client(self, key: str | None) -> AsyncIterator[Client]:
        """An MCP client over streamable HTTP, sending ``key`` as a bearer token if given."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
            async with Client(streamable_http_client(self.url, http_client=http)) as client:
                yield client


@contextlib.asynccontextmanager
async def http_client(lab: EKSLab, *args: str) -> AsyncIterator[Client]:
    """An MCP client of a fresh HTTP server started with ``args`` (no API key)."""
    async with HTTPServer.run(lab, *args) as server:
        async with server.client(None) as client:
            yield client


def client_over(transport: str, lab: EKSLab, *args: str) -> contextlib.AbstractAsyncContextManager[Client]:
    """An MCP client of a fresh server started with ``args``, over "stdio" or "http"."""
    return stdio_client(lab, *args) if transport == "stdio" else http_client(lab, *args)


def _open_sink(path: Path) -> BinaryIO:
    return open(path, "wb")


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


def text_of(result: CallToolResult) -> str:
    """The text a tool returned."""
    parts = [c.text for c in result.content if isinstance(c, TextContent)]
    return "\n".join(parts)


async def call_ok(client: Client, tool: str, **arguments: Any) -> Any:
    """Call a tool that must succeed; return its decoded JSON (or text, for logs)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    text = text_of(result)
    try:
        return json.loads(text)
    except ValueError:
        return text


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail as a tool error; return the error text."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have failed but returned: {text_of(result)}"
    text = text_of(result)
    assert "Traceback" not in text
    return text

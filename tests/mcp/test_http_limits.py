"""A hostile HTTP client against the real ``kom-async mcp --transport http`` (bearer key): slow
clients that never finish their headers are dropped and cannot lock out a keyed request, even
when they outnumber the server's file descriptors; oversized bodies get 413 unread."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from mcp_helpers import HTTPServer, call_ok

from kom_async.lab import EKSLab

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = secrets.token_urlsafe(24)
PARTIAL = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: "

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def flood_size() -> tuple[int, int]:
    """(slow sockets, the server's ulimit -n): 1,100 against the common default of 1,024, or
    fewer when this process may not open that many (the flood always outnumbers the server's fds)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1400 and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1400), hard))
        soft = min(hard, 1400)
    sockets = min(1100, soft - 300)
    return sockets, min(1024, sockets - 76)


@contextlib.asynccontextmanager
async def slow_clients(port: int, count: int, first: bytes = PARTIAL) -> AsyncIterator[list[Conn]]:
    """``count`` connections that send ``first`` (half a request) and then nothing."""
    conns: list[Conn] = []
    try:
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(first)
            conns.append((reader, writer))
        yield conns
    finally:
        for _, writer in conns:
            writer.close()
        for _, writer in conns:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def closed_by_server(conns: list[Conn], at_least: int, within: float = 30.0) -> int:
    """How many of ``conns`` the server has closed, once at least ``at_least`` are (or ``within``)."""
    deadline = time.monotonic() + within
    while True:
        closed = sum(1 for reader, _ in conns if reader.at_eof())
        if closed >= at_least or time.monotonic() > deadline:
            return closed
        await asyncio.sleep(0.1)


async def answer_status(reader: asyncio.StreamReader) -> int:
    """Read one whole response (status line, headers, Content-Length body); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        ),
        0,
    )
    await reader.readexactly(length)
    return int(head.split()[1])


async def keyed_list(server: HTTPServer) -> float:
    """Seconds a keyed list_k8s_clusters takes, new session and connection included."""
    started = time.perf_counter()
    async with asyncio.timeout(60), server.client(KEY) as client:
        await call_ok(client, "list_k8s_clusters")
    return time.perf_counter() - started


@pytest.mark.timeout(180)
async def test_more_slow_clients_than_file_descriptors_cannot_lock_out_a_keyed_request(lab: EKSLab) -> None:
    # headers may take five minutes here (longer than keyed_list waits): only the connection cap
    # can let the keyed request in
    sockets, nofile = flood_size()
    async with HTTPServer.run(lab, "--header-timeout", "300", key=KEY, nofile=nofile) as server:
        async with slow_clients(server.port, sockets) as conns:
            took = await keyed_list(server)
            print(
                f"{sockets} slow clients (server ulimit -n {nofile}): keyed list_k8s_clusters in {took:.2f} s"
            )
            cap = min(512, nofile - 128)
            assert await closed_by_server(conns, sockets - cap) >= sockets - cap


@pytest.mark.timeout(180)
async def test_slow_clients_are_dropped_after_the_header_timeout(lab: EKSLab) -> None:
    sockets, nofile = flood_size()
    async with HTTPServer.run(lab, key=KEY, nofile=nofile) as server:  # default --header-timeout 5
        async with slow_clients(server.port, sockets) as conns:
            took = await keyed_list(server)
            print(f"{sockets} slow clients, default header timeout: keyed list_k8s_clusters in {took:.2f} s")
            assert await closed_by_server(conns, sockets) == sockets


async def test_every_kind_of_stalled_request_is_dropped(lab: EKSLab) -> None:
    async with HTTPServer.run(lab, "--header-timeout", "1", key=KEY) as server:
        port = server.port
        async with slow_clients(port, 3) as partial, slow_clients(port, 2, b"") as silent:
            # a keep-alive connection that got its answer (401) and then starts a request it never ends
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert await answer_status(reader) == 401
            writer.write(PARTIAL)
            # an unkeyed client that announces a large body and trickles it after its 401
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\nxx")
            assert await answer_status(r2) == 401

            async def trickle() -> None:
                with contextlib.suppress(OSError):
                    while not r2.at_eof():
                        w2.write(b"x" * 100)
                        await w2.drain()
                        await asyncio.sleep(0.1)

            task = asyncio.create_task(trickle())
            try:
                conns = [*partial, *silent, (reader, writer), (r2, w2)]
                assert await closed_by_server(conns, len(conns)) == len(conns)
            finally:
                await task
                writer.close()
                w2.close()


async def test_a_body_over_the_cap_gets_413_without_being_read(lab: EKSLab) -> None:
    async with HTTPServer.run(lab, key=KEY) as server:
        head = (
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {KEY}\r\n"
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        )
        # announced: answered before a single body byte is sent
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(f"{head}Content-Length: {4 * 1024 * 1024 + 1}\r\n\r\n".encode())
        async with asyncio.timeout(30):
            assert (await reader.readline()).split()[1] == b"413"
        writer.close()
        # not announced (chunked): cut off once past the cap
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * 65536

        async def send() -> None:
            with contextlib.suppress(OSError):
                for _ in range(80):  # 5 MiB
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")

        task = asyncio.create_task(send())
        try:
            async with asyncio.timeout(30):
                assert (await reader.readline()).split()[1] == b"413"
        finally:
            writer.close()
            await task
        async with server.client(KEY) as client:  # the server is fine
            await call_ok(client, "list_k8s_clusters")

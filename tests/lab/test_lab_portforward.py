"""pods/portforward over real WebSockets: port prefixes, echo, proxying, concurrency, bad ports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from lab_helpers import LabAPI, stream_url, ws_open

from kom_async.lab import EKSLab, LabError

PF = "/api/v1/namespaces/demo/pods/web-0/portforward"
V4 = ("v4.channel.k8s.io",)


async def prefixes(ws: aiohttp.ClientWebSocketResponse, ports: list[int]) -> None:
    """The server's first message on each port's data and error channel is the port, little-endian."""
    expected = {bytes((2 * i + e,)) + p.to_bytes(2, "little") for i, p in enumerate(ports) for e in (0, 1)}
    got = {await ws.receive_bytes() for _ in expected}
    assert got == expected


@pytest_asyncio.fixture
async def upper_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A loopback TCP server that answers each chunk upper-cased and records what it got."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            received.append(data)
            if data == b"bye":
                break
            writer.write(data.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], received


async def test_an_unconfigured_port_echoes_bytes_after_the_port_prefixes(api: LabAPI) -> None:
    async with await ws_open(api, PF, [("ports", "8080")], protocols=V4) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        await prefixes(ws, [8080])
        await ws.send_bytes(b"\x00hello")
        assert await ws.receive_bytes() == b"\x00hello"
        await ws.send_bytes(b"\x00" + bytes(range(256)))
        assert await ws.receive_bytes() == b"\x00" + bytes(range(256))


async def test_a_port_target_gets_the_bytes_and_its_close_ends_the_socket(
    eks_lab: EKSLab, api: LabAPI, upper_server: tuple[int, list[bytes]]
) -> None:
    port, received = upper_server
    eks_lab.set_port_target("lab", "demo", "web-0", 5432, ("127.0.0.1", port))
    async with await ws_open(api, PF, [("ports", "5432")], protocols=V4) as ws:
        await prefixes(ws, [5432])
        await ws.send_bytes(b"\x00select 1")
        assert await ws.receive_bytes() == b"\x00SELECT 1"
        await ws.send_bytes(b"\x00bye")
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert received == [b"select 1", b"bye"]
    with pytest.raises(LabError):
        eks_lab.set_port_target("lab", "demo", "web-0", 80, ("10.0.0.1", 80))


async def test_two_concurrent_forwards_and_two_ports_on_one_socket_stay_apart(
    eks_lab: EKSLab, api: LabAPI, upper_server: tuple[int, list[bytes]]
) -> None:
    eks_lab.set_port_target("lab", "demo", "web-0", 9000, ("127.0.0.1", upper_server[0]))
    a = await ws_open(api, PF, [("ports", "80")], protocols=V4)
    b = await ws_open(api, PF, [("ports", "9000,80")], protocols=V4)
    try:
        await prefixes(a, [80])
        await prefixes(b, [9000, 80])
        await b.send_bytes(b"\x00to-target")
        await a.send_bytes(b"\x00to-echo-a")
        await b.send_bytes(b"\x02to-echo-b")
        assert await a.receive_bytes() == b"\x00to-echo-a"
        got = {await b.receive_bytes(), await b.receive_bytes()}
        assert got == {b"\x00TO-TARGET", b"\x02to-echo-b"}
    finally:
        await a.close()
        await b.close()


async def test_a_refused_target_reports_on_the_error_channel_and_closes(eks_lab: EKSLab, api: LabAPI) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    closed_port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    eks_lab.set_port_target("lab", "demo", "web-0", 6379, ("127.0.0.1", closed_port))
    async with await ws_open(api, PF, [("ports", "6379")], protocols=V4) as ws:
        await prefixes(ws, [6379])
        error = await ws.receive_bytes()
        assert error[0] == 1 and b"error forwarding port 6379" in error
        assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_hostile_port_lists_and_frames_are_refused_or_ignored(api: LabAPI) -> None:
    full_width_80 = "\uff18\uff10"
    for ports in (None, "", "0", "65536", "80,abc", "-1", full_width_80, ",".join(["80"] * 128)):
        params = {"ports": ports} if ports is not None else None
        status, body = await api.get(PF, params=params)
        assert status == 400 and body["reason"] == "BadRequest", ports
        assert "Upgrade request required" not in body["message"], ports  # refused for the ports
    status, body = await api.get(PF, params={"ports": "80"})
    assert (status, body["message"]) == (400, "Upgrade request required")
    async with await ws_open(api, PF, [("ports", "80")], protocols=V4) as ws:
        await prefixes(ws, [80])
        for junk in (b"", b"\x00", b"\x01to-the-error-channel", b"\x07nope", b"\xff\x00"):
            await ws.send_bytes(junk)
        await ws.send_str("text")
        await ws.send_bytes(b"\x00ok")
        assert await ws.receive_bytes() == b"\x00ok"
    headers = {"Authorization": f"Bearer {api.token}", "Connection": "Upgrade", "Upgrade": "websocket"}
    headers.update({"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    headers["Sec-WebSocket-Protocol"] = "SPDY/3.1+portforward.k8s.io"
    async with api.session.get(stream_url(api, PF, [("ports", "80")]), headers=headers, ssl=api.ssl) as resp:
        assert resp.status == 403
    status, body = await api.get(PF, params={"ports": "80"}, token="bad")
    assert status == 401


async def test_a_pod_that_is_not_running_cannot_be_forwarded(api: LabAPI) -> None:
    status, _ = await api.patch(
        "/api/v1/namespaces/demo/pods/web-1/status", {"status": {"phase": "Pending"}}, "application/merge-patch+json"
    )
    assert status == 200
    status, body = await api.get("/api/v1/namespaces/demo/pods/web-1/portforward", params={"ports": "80"})
    assert status == 400 and "not running" in body["message"]

"""Port-forward through real WebSockets: bytes both ways, concurrent forwards and connections."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from kubectl_helpers import CountingApiClient

from kom_async.errors import KomError, NotFound, QueryError
from kom_async.kubectl import Kubectl
from kom_async.kubectl.port_forward import PROTOCOLS as FORWARD_PROTOCOLS
from kom_async.kubectl.port_forward import PortForward
from kom_async.lab import EKSLab, LabCluster
from kom_async.transport import ws
from kom_async.transport.rest import Target

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def roundtrip(port: int, payload: bytes) -> bytes:
    """Send ``payload`` to 127.0.0.1:port and read as many bytes back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 10)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_bytes_go_both_ways_through_a_forwarded_port(kubectl: Kubectl) -> None:
    async with kubectl.pod("web-0", "demo").port_forward(8080) as port:
        assert isinstance(port, int) and port > 0
        assert await roundtrip(port, b"hello through the tunnel") == b"hello through the tunnel"
        blob = bytes(range(256)) * 1024  # 256 KiB in many messages
        assert await roundtrip(port, blob) == blob


async def test_two_forwards_and_several_connections_run_at_once(kubectl: Kubectl) -> None:
    async with (
        kubectl.pod("web-0", "demo").port_forward(8080) as first,
        kubectl.pod("web-1", "demo").port_forward(9090) as second,
    ):
        assert first != second
        payloads = [f"connection {i} ".encode() * 100 for i in range(6)]
        answers = await asyncio.gather(
            *(roundtrip(first if i % 2 else second, data) for i, data in enumerate(payloads))
        )
        assert answers == payloads


async def test_a_forward_reaches_a_server_behind_the_pod_port(
    kubectl: Kubectl, lab: EKSLab, cluster: LabCluster
) -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = await reader.readline()
        writer.write(b"hello, " + name)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    try:
        lab.set_port_target(
            cluster.name, "demo", "api-0", 5432, ("127.0.0.1", server.sockets[0].getsockname()[1])
        )
        async with kubectl.pod("api-0", "demo").port_forward(5432) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"kom\n")
            await writer.drain()
            # the server closes after answering: the forward passes the whole answer, then EOF
            assert await asyncio.wait_for(reader.read(), 10) == b"hello, kom\n"
            writer.close()
            await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


async def test_leaving_the_block_closes_the_listener_and_every_connection(kubectl: Kubectl) -> None:
    async with kubectl.pod("web-0", "demo").port_forward(8080) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"open\n")
        assert await asyncio.wait_for(reader.readexactly(5), 10) == b"open\n"
    # the connection was ended by the forward, and nobody listens any more
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    await writer.wait_closed()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_port_forward_checks_the_pod_and_port_first(kubectl: Kubectl, api: CountingApiClient) -> None:
    with pytest.raises(QueryError, match="port must be an int from 1 to 65535"):
        async with kubectl.pod("web-0", "demo").port_forward(0):
            pass
    with pytest.raises(QueryError, match="local_port"):
        async with kubectl.pod("web-0", "demo").port_forward(80, local_port=70000):
            pass
    with pytest.raises(NotFound):
        async with kubectl.pod("ghost", "demo").port_forward(80):
            pass
    pods = kubectl.resource("pods").namespace("demo")
    await pods.create(
        {
            "metadata": {"name": "pending"},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Pending"},
        }
    )
    with pytest.raises(QueryError, match="phase is Pending"):
        async with kubectl.pod("pending", "demo").port_forward(80):
            pass
    assert api.count("/portforward") == 0


async def test_a_port_the_pod_refuses_comes_back_on_the_error_channel(
    kubectl: Kubectl, lab: EKSLab, cluster: LabCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """The pod answers a connection to a closed port on the error channel: the local connection
    ends without data, and the forward records the pod's message as a typed error."""
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    dead_port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    lab.set_port_target(cluster.name, "demo", "web-0", 7070, ("127.0.0.1", dead_port))
    target = Target(kind="Pod", namespace="demo", name="web-0")

    async def connect() -> aiohttp.ClientWebSocketResponse:
        return await ws.connect(
            kubectl.api_client,
            "/api/v1/namespaces/demo/pods/web-0/portforward",
            query=[("ports", "7070")],
            protocols=FORWARD_PROTOCOLS,
            target=target,
        )

    forward = PortForward(connect, remote_port=7070, local_port=0, what="demo/web-0")
    try:
        async with forward as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hello?")
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing came back
            writer.close()
            await writer.wait_closed()
            for _ in range(100):  # the connection's task records the error as it ends
                if forward.errors:
                    break
                await asyncio.sleep(0.01)
    finally:
        lab.set_port_target(cluster.name, "demo", "web-0", 7070, None)
    assert forward.connections == 1 and len(forward.errors) == 1, forward.errors
    error = forward.errors[0]
    assert isinstance(error, KomError)
    assert "the pod refused the forwarded connection to port 7070" in str(error)
    assert f"dial tcp 127.0.0.1:{dead_port}" in str(error)  # the pod's own words, from the error channel
    assert any("connection failed" in r.getMessage() for r in caplog.records)

"""API server faults: overload, transient 5xx, refused and reset connections, a certificate for
another host, and a token revoked while a watch is open."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from typing import Any

import pytest
import trustme
from kubernetes_asyncio.client import CoreV1Api, V1ConfigMap, V1ObjectMeta
from kubernetes_asyncio.client.exceptions import ApiException
from reliability_helpers import raw_tls_server, read_request

from kom_async import Clusters, Kubectl
from kom_async.errors import ClusterUnreachable, KubernetesError
from kom_async.lab import EKSLab
from kom_async.transport.apiclient import KomApiClient
from kom_async.transport.retry import RetryPolicy, parse_retry_after


class Waits:
    """A RetryPolicy sleep that records the waits asked for instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def recording_policy(**kw: Any) -> tuple[RetryPolicy, Waits]:
    waits = Waits()
    return RetryPolicy(sleep=waits, **kw), waits


def client_of(k: Kubectl) -> KomApiClient:
    client = k.api_client
    assert isinstance(client, KomApiClient)
    return client


async def static_cluster(lab: EKSLab, clusters: Clusters, name: str) -> Kubectl:
    await lab.create_cluster(name)
    return await clusters.register_by_string(lab.kubeconfig(name, static_token=True), cluster_id=name)


# -- 429 / 5xx ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_an_overloaded_or_failing_server_is_retried_on_reads_honouring_retry_after(
    lab: EKSLab, status: int
) -> None:
    async with Clusters() as clusters:
        k = await static_cluster(lab, clusters, f"busy{status}")
        client_of(k).retry_policy, waits = recording_policy()
        before = lab.stats(f"busy{status}").requests
        lab.api_fault(f"busy{status}", status=status, retry_after=2, count=2)
        namespaces = await CoreV1Api(k.api_client).list_namespace()
        assert {n.metadata.name for n in namespaces.items} >= {"default", "demo"}
        assert waits.waits == [2.0, 2.0]  # the server's Retry-After, twice
        assert lab.stats(f"busy{status}").requests - before == 3


async def test_the_fluent_api_streams_are_retried_too(lab: EKSLab) -> None:
    async with Clusters() as clusters:
        k = await static_cluster(lab, clusters, "busystream")
        client_of(k).retry_policy, waits = recording_policy()
        await k.api_resources()
        lab.api_fault("busystream", status=503, count=1)  # no Retry-After: exponential backoff
        pods = await k.resource("pods").namespace("demo").list()
        assert len(pods) >= 3
        assert len(waits.waits) == 1 and 0.125 <= waits.waits[0] <= 0.25


async def test_a_huge_retry_after_is_capped(lab: EKSLab) -> None:
    async with Clusters() as clusters:
        k = await static_cluster(lab, clusters, "slowdown")
        client_of(k).retry_policy, waits = recording_policy(max_retry_after=10.0)
        lab.api_fault("slowdown", status=429, retry_after=3600, count=1)
        await CoreV1Api(k.api_client).list_namespace()
        assert waits.waits == [10.0]


async def test_retries_are_bounded_and_the_last_answer_is_raised(lab: EKSLab) -> None:
    async with Clusters() as clusters:
        k = await static_cluster(lab, clusters, "down")
        client_of(k).retry_policy, waits = recording_policy(attempts=4)
        before = lab.stats("down").requests
        lab.api_fault("down", status=503)  # until cleared
        with pytest.raises(ApiException) as info:
            await CoreV1Api(k.api_client).list_namespace()
        assert info.value.status == 503
        assert lab.stats("down").requests - before == 4 and len(waits.waits) == 3
        with pytest.raises(KubernetesError) as kinfo:  # the fluent API: a typed error
            await k.resource("namespaces").list()
        assert kinfo.value.status_code == 503
        lab.clear_api_fault("down")
        await CoreV1Api(k.api_client).list_namespace()


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_writes_are_never_retried(lab: EKSLab, status: int) -> None:
    async with Clusters() as clusters:
        k = await static_cluster(lab, clusters, f"write{status}")
        client_of(k).retry_policy, waits = recording_policy()
        api = CoreV1Api(k.api_client)
        cm = V1ConfigMap(metadata=V1ObjectMeta(name="once"), data={"a": "1"})
        before = lab.stats(f"write{status}").requests
        lab.api_fault(f"write{status}", status=status, retry_after=1, count=1)
        with pytest.raises(ApiException) as info:
            await api.create_namespaced_config_map("demo", cm)
        assert info.value.status == status
        assert lab.stats(f"write{status}").requests - before == 1 and waits.waits == []
        lab.api_fault(f"write{status}", status=status, count=1)
        with pytest.raises(ApiException):
            await api.delete_namespaced_config_map("kube-root-ca.crt", "demo")
        await k.api_resources()  # discovery first, so the fault hits the write itself
        lab.api_fault(f"write{status}", status=status, count=1)
        with pytest.raises(KubernetesError):
            await k.resource("cm").namespace("demo").create({"metadata": {"name": "twice"}})
        assert waits.waits == []
        # the fault is used up: the write goes through exactly once now
        await k.resource("cm").namespace("demo").create({"metadata": {"name": "twice"}})


def test_retry_after_accepts_seconds_and_http_dates_and_ignores_garbage() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("-3") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: go now
    policy = RetryPolicy(max_retry_after=5.0)
    assert policy.delay(1, "Fri, 31 Dec 9999 23:59:59 GMT") == 5.0
    assert all(0.0 <= policy.delay(n) <= policy.backoff_cap for n in range(1, 30))
    assert not policy.applies_to("POST") and policy.applies_to("get")
    assert not RetryPolicy(attempts=1).applies_to("GET")
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


# -- connection faults --------------------------------------------------------------------------


async def test_a_dropped_connection_on_a_read_is_retried(lab: EKSLab) -> None:
    async with Clusters() as clusters:
        k = await static_cluster(lab, clusters, "flaky")
        client_of(k).retry_policy, waits = recording_policy()
        lab.api_fault("flaky", unavailable=True, count=2)
        namespaces = await CoreV1Api(k.api_client).list_namespace()
        # aiohttp itself re-sends an idempotent request once when a pooled keep-alive
        # connection turns out dead, so one or two of the drops reach our retry layer
        assert namespaces.items and 1 <= len(waits.waits) <= 2
        assert lab.stats("flaky").faults_injected == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


NAMESPACE_LIST = json.dumps(
    {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": [{"metadata": {"name": "x"}}]}
).encode()


def ok_response(body: bytes = NAMESPACE_LIST) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def kubeconfig_for(server: str, ca_pem: bytes, **cluster: Any) -> dict[str, Any]:
    import base64

    entry = {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode(), **cluster}
    return {
        "clusters": [{"name": "c", "cluster": entry}],
        "users": [{"name": "u", "user": {"token": "raw-server-static-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_ctx(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(ctx)
    return ctx


async def test_connection_refused_is_retried_then_reported_clearly(ca: trustme.CA) -> None:
    port = free_port()
    async with Clusters() as clusters:
        k = await clusters.register_by_string(
            kubeconfig_for(f"https://127.0.0.1:{port}", ca.cert_pem.bytes())
        )
        client_of(k).retry_policy, waits = recording_policy(attempts=3)
        with pytest.raises(ClusterUnreachable) as info:
            await CoreV1Api(k.api_client).list_namespace()
        assert f"127.0.0.1:{port}" in str(info.value) and len(waits.waits) == 2
        assert isinstance(info.value, ConnectionError)  # code catching OSError keeps working


async def test_a_server_that_comes_back_while_a_read_is_retrying_answers_it(ca: trustme.CA) -> None:
    port = free_port()
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(ok_response())
        await writer.drain()

    started: list[Any] = []

    async def start_server_then_sleep(seconds: float) -> None:
        if not started:  # the server comes up during the first backoff
            cm = raw_tls_server(server_ctx(ca, "127.0.0.1"), serve, port=port)
            started.append(cm)
            await cm.__aenter__()

    async with Clusters() as clusters:
        k = await clusters.register_by_string(
            kubeconfig_for(f"https://127.0.0.1:{port}", ca.cert_pem.bytes())
        )
        client_of(k).retry_policy = RetryPolicy(sleep=start_server_then_sleep)
        try:
            namespaces = await CoreV1Api(k.api_client).list_namespace()
        finally:
            for cm in started:
                await cm.__aexit__(None, None, None)
        assert [n.metadata.name for n in namespaces.items] == ["x"] and connections == 1


async def test_a_connection_reset_mid_response_is_retried_on_reads(ca: trustme.CA) -> None:
    connections = 0

    async def reset_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        if connections == 1:  # headers and a third of the body, then a reset
            whole = ok_response()
            writer.write(whole[: len(whole) - len(NAMESPACE_LIST) * 2 // 3])
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.transport.abort()
            return
        writer.write(ok_response())
        await writer.drain()

    async with raw_tls_server(server_ctx(ca, "127.0.0.1"), reset_first) as port:
        async with Clusters() as clusters:
            k = await clusters.register_by_string(
                kubeconfig_for(f"https://127.0.0.1:{port}", ca.cert_pem.bytes())
            )
            client_of(k).retry_policy, waits = recording_policy()
            namespaces = await CoreV1Api(k.api_client).list_namespace()
            assert [n.metadata.name for n in namespaces.items] == ["x"]
            assert connections == 2 and len(waits.waits) == 1


async def test_a_reset_mid_response_on_a_write_is_not_retried(ca: trustme.CA) -> None:
    connections = 0

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        head = await read_request(reader)
        length = int(next(v for k, v in _headers(head) if k == "content-length"))
        await reader.readexactly(length)
        writer.write(b'HTTP/1.1 201 Created\r\nContent-Length: 500\r\n\r\n{"kind"')
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    async with raw_tls_server(server_ctx(ca, "127.0.0.1"), reset) as port:
        async with Clusters() as clusters:
            k = await clusters.register_by_string(
                kubeconfig_for(f"https://127.0.0.1:{port}", ca.cert_pem.bytes())
            )
            client_of(k).retry_policy, waits = recording_policy()
            cm = V1ConfigMap(metadata=V1ObjectMeta(name="maybe"))
            with pytest.raises(ClusterUnreachable):
                await CoreV1Api(k.api_client).create_namespaced_config_map("demo", cm)
            assert connections == 1 and waits.waits == []


def _headers(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines if line)]


async def test_a_certificate_for_another_host_fails_verification_clearly_and_is_not_retried(
    ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(ok_response())
        await writer.drain()

    async with raw_tls_server(server_ctx(ca, "kubernetes.other.example"), serve) as port:
        server = f"https://127.0.0.1:{port}"
        async with Clusters() as clusters:
            k = await clusters.register_by_string(kubeconfig_for(server, ca.cert_pem.bytes()), cluster_id="v")
            client_of(k).retry_policy, waits = recording_policy()
            with pytest.raises(ClusterUnreachable) as info:
                await CoreV1Api(k.api_client).list_namespace()
            message = str(info.value)
            assert "TLS verification" in message and "certificate verify failed" in message
            assert "127.0.0.1" in message and "certificate-authority-data" in message
            assert waits.waits == []  # a wrong certificate is not retried
            # tls-server-name pointing at the wrong name fails the same way
            k2 = await clusters.register_by_string(
                kubeconfig_for(server, ca.cert_pem.bytes(), **{"tls-server-name": "api.third.example"}),
                cluster_id="w",
            )
            with pytest.raises(ClusterUnreachable, match="certificate verify failed"):
                await CoreV1Api(k2.api_client).list_namespace()
            # ...and the right tls-server-name makes it work
            k3 = await clusters.register_by_string(
                kubeconfig_for(
                    server, ca.cert_pem.bytes(), **{"tls-server-name": "kubernetes.other.example"}
                ),
                cluster_id="x",
            )
            assert (await CoreV1Api(k3.api_client).list_namespace()).items
            # turning verification off is possible only through the kubeconfig, and it is logged
            with caplog.at_level(logging.WARNING, logger="kom_async"):
                k4 = await clusters.register_by_string(
                    kubeconfig_for(server, b"", **{"insecure-skip-tls-verify": True}), cluster_id="y"
                )
            assert any("TLS verification is OFF" in r.getMessage() for r in caplog.records)
            assert (await CoreV1Api(k4.api_client).list_namespace()).items


async def test_without_a_ca_the_system_roots_reject_the_lab_certificate(lab: EKSLab) -> None:
    await lab.create_cluster("noca")
    import yaml

    doc = yaml.safe_load(lab.kubeconfig("noca", static_token=True))
    del doc["clusters"][0]["cluster"]["certificate-authority-data"]
    async with Clusters() as clusters:
        k = await clusters.register_by_string(doc)
        with pytest.raises(ClusterUnreachable, match="certificate verify failed"):
            await CoreV1Api(k.api_client).list_namespace()


# -- a token revoked while a watch is open --------------------------------------------------------


async def test_a_watch_survives_its_token_being_revoked_mid_stream(lab: EKSLab) -> None:
    await lab.create_cluster("watched")
    async with Clusters() as clusters:
        k = await clusters.register_eks_by_string(lab.kubeconfig("watched"), cluster_id="watched")
        provider = clusters.get("watched").token_provider
        assert provider is not None
        cms = k.resource("cm").namespace("demo")
        async with cms.labels("rev=1").watch(send_initial=False) as events:
            await cms.create({"metadata": {"name": "before", "labels": {"rev": "1"}}})
            kind, obj = await asyncio.wait_for(anext(events), 10)
            assert (kind, obj["metadata"]["name"]) == ("ADDED", "before")
            await asyncio.sleep(1.1)  # the lab revokes tokens signed before the current second
            lab.revoke_tokens("watched")
            assert lab.drop_watches("watched") >= 1  # the stream breaks; the reconnect gets 401
            await cms.create({"metadata": {"name": "after", "labels": {"rev": "1"}}})
            kind, obj = await asyncio.wait_for(anext(events), 10)
            assert (kind, obj["metadata"]["name"]) == ("ADDED", "after")
        assert provider.stats.fetches == 2 and provider.stats.unauthorized_recoveries >= 1
        assert lab.stats("watched").unauthorized >= 1

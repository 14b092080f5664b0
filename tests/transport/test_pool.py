"""One connection pool for a registry's clusters (issue 24, "10,000 clusters"): its caps hold,
idle connections expire, and sharing it changes nothing of what each cluster trusts — its
own CA verifies each of its requests, its own proxy carries them — and closing the registry
closes it."""

from __future__ import annotations

import asyncio
import base64
import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import trustme
import yaml

from kom_async import Clusters, PoolLimits
from kom_async.errors import KomError
from kom_async.lab import EKSLab
from kom_async.transport.pool import HTTPPool
from tests.attacker import Attacker

pytestmark = pytest.mark.asyncio(loop_scope="module")

NAMES = [f"pool-{i}" for i in range(6)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool_lab(eks_lab_module: EKSLab) -> AsyncIterator[EKSLab]:
    for name in NAMES:
        await eks_lab_module.create_cluster(name, seed=False)
    yield eks_lab_module


def own_ca_kubeconfig(lab: EKSLab, name: str, **cluster: Any) -> dict[str, Any]:
    """A static-token kubeconfig whose CA bundle is the lab's CA plus a CA of its own: one
    SSL context per cluster, as real clusters have, that still verifies the lab's server."""
    doc: dict[str, Any] = yaml.safe_load(lab.kubeconfig(name, static_token=True))
    entry = doc["clusters"][0]["cluster"]
    bundle = base64.b64decode(entry["certificate-authority-data"]) + trustme.CA().cert_pem.bytes()
    entry["certificate-authority-data"] = base64.b64encode(bundle).decode()
    entry.update(cluster)
    return doc


def pool_of(clusters: Clusters) -> HTTPPool:
    return clusters._connector.http()


async def register_all(clusters: Clusters, lab: EKSLab) -> None:
    for name in NAMES:
        await clusters.register_by_string(own_ca_kubeconfig(lab, name), cluster_id=name)


async def namespaces(kubectl: Any) -> bool:
    """One request that needs the cluster's TLS, token and proxy; True once it is answered."""
    await kubectl.resource("namespaces").list()
    return True


def held(clusters: Clusters) -> int:
    in_use, idle = pool_of(clusters).connections()
    return in_use + idle


async def test_the_total_cap_holds_over_a_fan_out(pool_lab: EKSLab) -> None:
    limits = PoolLimits(max_connections=2, max_idle=8)
    async with Clusters(pool_limits=limits) as clusters:
        await register_all(clusters, pool_lab)
        peak = 0
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, held(clusters))
                await asyncio.sleep(0)

        sampler = asyncio.create_task(sample())
        try:
            for _ in range(3):
                results = await clusters.gather(namespaces, concurrency=len(NAMES))
                assert not [r for r in results.values() if isinstance(r, BaseException)]
        finally:
            stop.set()
            await sampler
        # six clusters, six SSL contexts, six connection keys: never more than two open
        assert 0 < peak <= 2 and held(clusters) <= 2


async def test_idle_connections_are_capped(pool_lab: EKSLab) -> None:
    async with Clusters(pool_limits=PoolLimits(max_idle=3, idle_expiry=600)) as clusters:
        await register_all(clusters, pool_lab)
        await clusters.gather(namespaces, concurrency=1)  # one at a time: each leaves one idle
        assert pool_of(clusters).connections() == (0, 3)  # six made, the three oldest closed


async def test_idle_connections_expire(pool_lab: EKSLab) -> None:
    async with Clusters(pool_limits=PoolLimits(idle_expiry=0.2)) as clusters:
        await register_all(clusters, pool_lab)
        await clusters.gather(namespaces)
        while pool_of(clusters).connections() != (0, 0):  # bounded by the test's timeout
            await asyncio.sleep(0.05)


async def test_a_wrong_ca_fails_tls_on_the_shared_pool(pool_lab: EKSLab) -> None:
    good = own_ca_kubeconfig(pool_lab, NAMES[0])
    wrong = own_ca_kubeconfig(pool_lab, NAMES[0])  # the same server, URL and token
    wrong["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        trustme.CA().cert_pem.bytes()
    ).decode()
    async with Clusters(retry_policy=None) as clusters:
        trusted = await clusters.register_by_string(good, cluster_id="good")
        impostor_view = await clusters.register_by_string(wrong, cluster_id="wrong")
        assert await namespaces(trusted)  # a verified connection to that server is now pooled
        with pytest.raises(KomError, match=r"(?i)certificate|ssl|tls"):
            await namespaces(impostor_view)
        assert await namespaces(trusted)  # and the right CA still works


async def test_each_cluster_keeps_its_own_proxy_on_the_shared_pool(pool_lab: EKSLab) -> None:
    async with Attacker.listening() as proxy, Clusters(retry_policy=None) as clusters:
        doc = own_ca_kubeconfig(pool_lab, NAMES[1])
        direct = await clusters.register_by_string(doc, cluster_id="direct")
        doc = copy.deepcopy(doc)
        doc["clusters"][0]["cluster"]["proxy-url"] = proxy.url  # the only difference
        proxied = await clusters.register_by_string(doc, cluster_id="proxied")
        assert await namespaces(direct)
        proxy.assert_received_nothing()
        # same server, same CA: only the proxy differs, and the pooled direct connection is not used
        with pytest.raises((KomError, aiohttp.ClientError)):  # the proxy refuses the CONNECT
            await namespaces(proxied)
        through_proxy = proxy.connections
        assert through_proxy >= 1 and proxy.received.startswith(b"CONNECT 127.0.0.1:")
        assert await namespaces(direct)
        assert proxy.connections == through_proxy  # the direct cluster still goes direct


async def test_closing_the_registry_closes_the_pool(pool_lab: EKSLab) -> None:
    clusters = Clusters()
    await register_all(clusters, pool_lab)
    await clusters.gather(namespaces)
    pool = pool_of(clusters)
    session = pool.session()
    kubectl = clusters.get(NAMES[0]).kubectl
    assert pool.connections()[1] > 0
    await clusters.aclose()
    assert pool.closed and session.closed and pool.connections() == (0, 0)
    assert kubectl.api_client.closed
    with pytest.raises(KomError, match="closed"):
        await namespaces(kubectl)


async def test_unregistering_the_last_cluster_of_a_server_closes_its_idle_connections(
    pool_lab: EKSLab,
) -> None:
    async with Clusters() as clusters:
        await register_all(clusters, pool_lab)
        await clusters.gather(namespaces, concurrency=1)
        kept = pool_of(clusters).connections()[1]
        await clusters.unregister(NAMES[-1])  # its own CA: no other cluster can use its connection
        assert 0 < pool_of(clusters).connections()[1] < kept

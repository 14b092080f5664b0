"""Fixtures for the fluent API tests: a request-counting ApiClient and lab clusters."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import yaml
from kubectl_helpers import CountingApiClient
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import load_kube_config_from_dict

from kom_async.kubectl import Kubectl
from kom_async.lab import EKSLab, LabCluster

_names = itertools.count(1)


@pytest.fixture
async def offline_kubectl() -> AsyncIterator[tuple[Kubectl, CountingApiClient]]:
    """A Kubectl whose server does not exist: any request it sends would fail."""
    config = Configuration(host="https://127.0.0.1:9")
    config.api_key = {"BearerToken": "unused"}
    config.api_key_prefix = {"BearerToken": "Bearer"}
    client = CountingApiClient(config)
    try:
        yield Kubectl(client, cluster_id="offline"), client
    finally:
        await client.close()


@pytest.fixture
def lab(eks_lab_module: EKSLab) -> EKSLab:
    """One lab per test module (the lab plugin's); each test gets its own cluster in it."""
    return eks_lab_module


@pytest_asyncio.fixture(loop_scope="module")
async def cluster(lab: EKSLab) -> LabCluster:
    """A fresh lab cluster (seeded with the demo namespace, pods, deployment and nodes)."""
    return await lab.create_cluster(f"k{next(_names)}")


@pytest_asyncio.fixture(loop_scope="module")
async def api(lab: EKSLab, cluster: LabCluster) -> AsyncIterator[CountingApiClient]:
    """A plain kubernetes_asyncio client for the cluster, authenticated by a static token."""
    config = Configuration()
    kubeconfig = yaml.safe_load(lab.kubeconfig(cluster.name, static_token=True))
    await load_kube_config_from_dict(kubeconfig, client_configuration=config)
    client = CountingApiClient(config)
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture(loop_scope="module")
async def kubectl(api: CountingApiClient, cluster: LabCluster) -> Kubectl:
    """The fluent API on the fresh cluster."""
    return Kubectl(api, cluster_id=cluster.name)

"""Against a real EKS cluster (opt-in): register by name, list namespaces, refresh, unregister.

Runs only when ``KOM_ASYNC_LIVE_EKS_CLUSTER`` names a cluster and AWS credentials are
configured (keys, a profile, web identity or container credentials); the region comes from
``KOM_ASYNC_LIVE_EKS_REGION``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``. See the README.
"""

from __future__ import annotations

import os

import pytest

from kom_async import Clusters

CLUSTER = os.environ.get("KOM_ASYNC_LIVE_EKS_CLUSTER", "")
REGION = (
    os.environ.get("KOM_ASYNC_LIVE_EKS_REGION")
    or os.environ.get("AWS_REGION")
    or os.environ.get("AWS_DEFAULT_REGION")
    or ""
)
_CREDENTIAL_HINTS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)

pytestmark = pytest.mark.skipif(
    not (CLUSTER and REGION and any(os.environ.get(n) for n in _CREDENTIAL_HINTS)),
    reason="live EKS test: set KOM_ASYNC_LIVE_EKS_CLUSTER, a region and AWS credentials to run it",
)


@pytest.mark.timeout(120)
async def test_a_real_eks_cluster_registers_by_name_lists_refreshes_and_unregisters() -> None:
    async with Clusters() as clusters:
        k = await clusters.register_eks(CLUSTER, REGION, verify=True)
        cluster = clusters.get(k.cluster_id)
        assert cluster.is_eks and cluster.token_provider is not None
        names = [ns["metadata"]["name"] for ns in await k.resource("Namespace").list()]
        assert "default" in names and "kube-system" in names
        before = cluster.token_provider.token
        await cluster.token_provider.refresh()
        assert cluster.token_provider.token is not before
        assert await k.resource("Namespace").name("default").get()
        stats = cluster.auth_stats
        assert stats is not None and stats.fetches == 2 and stats.auth_failures == {}
        task = cluster.refresh_task
        await clusters.unregister(k.cluster_id)
        assert k.cluster_id not in clusters
        assert task is not None and task.done()

"""401 recovery: one refresh shared by every concurrent 401, one retry per request."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from kom_async import Clusters
from kom_async.errors import EKSAuthError, EKSAuthErrorKind
from kom_async.lab import EKSLab


async def test_a_thousand_concurrent_401s_cause_one_refresh_and_all_requests_succeed(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    await eks_lab.create_cluster("rot")
    token_file = tmp_path / "token"
    token_file.write_text("first-rotating-token")
    eks_lab.add_static_token("rot", "first-rotating-token")
    text = eks_lab.kubeconfig("rot", static_token="placeholder").replace(
        "token: placeholder", f"tokenFile: {token_file}"
    )
    async with Clusters() as clusters:
        k = await clusters.register_by_string(text, cluster_id="rot")
        provider = clusters.get("rot").token_provider
        assert provider is not None and provider.stats.fetches == 1
        api = CoreV1Api(k.api_client)
        await api.list_namespace()
        # rotate: the old token is revoked, the file holds a new valid one
        eks_lab.revoke_tokens("rot")
        eks_lab.add_static_token("rot", "second-rotating-token")
        token_file.write_text("second-rotating-token")
        before = eks_lab.stats("rot")
        results = await asyncio.gather(*(api.list_namespaced_config_map("demo") for _ in range(1000)))
        assert len(results) == 1000
        assert provider.stats.fetches == 2  # exactly one refresh
        assert provider.stats.unauthorized_recoveries == 1000
        after = eks_lab.stats("rot")
        assert after.unauthorized - before.unauthorized == 1000


async def test_a_second_401_on_an_eks_cluster_is_permission_denied(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("unmapped")
    async with Clusters() as clusters:
        k = await clusters.register_eks_by_string(eks_lab.kubeconfig("unmapped"), cluster_id="unmapped")
        eks_lab.unmap(eks_lab.admin_arn)
        with pytest.raises(EKSAuthError) as info:
            await CoreV1Api(k.api_client).list_namespace()
        assert info.value.kind is EKSAuthErrorKind.PermissionDenied
        assert "k8s-aws-v1" not in str(info.value)


async def test_a_second_401_on_a_plain_cluster_is_the_usual_api_exception(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("plain401")
    async with Clusters() as clusters:
        k = await clusters.register_by_string(eks_lab.kubeconfig("plain401", static_token=True))
        eks_lab.revoke_tokens("plain401")
        with pytest.raises(ApiException) as info:
            await CoreV1Api(k.api_client).list_namespace()
        assert info.value.status == 401

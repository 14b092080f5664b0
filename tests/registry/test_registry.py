"""The registry against the lab's real HTTPS API server: register, use, replace, unregister."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from kubernetes_asyncio.client import CoreV1Api, VersionApi

from kom_async import Cluster, Clusters, Kubectl
from kom_async.config.policy import ExecPolicy
from kom_async.errors import (
    ClusterExistsError,
    ClusterNotFound,
    EKSAuthError,
    EKSAuthErrorKind,
    ExecNotAllowed,
    ExecPluginError,
    KubeconfigError,
)
from kom_async.lab import EKSLab

needs_aws = pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI (aws) is not installed")


def refresh_tasks(cluster_id: str | None = None) -> list[asyncio.Task[object]]:
    prefix = "kom-async:refresh:" + (cluster_id or "")
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(prefix) and not t.done()]


async def test_a_static_token_kubeconfig_registers_and_core_v1_api_lists_pods(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("plain")
    async with Clusters() as clusters:
        k = await clusters.register_by_string(eks_lab.kubeconfig("plain", static_token=True), cluster_id="plain")
        assert isinstance(k, Kubectl)
        pods = await CoreV1Api(k.api_client).list_namespaced_pod("demo")
        assert len(pods.items) >= 3
        cluster = clusters.get("plain")
        assert isinstance(cluster, Cluster) and not cluster.is_eks and cluster.auth_kind == "token"
        assert refresh_tasks("plain") == []  # a token that never expires needs no refresh task


async def test_the_default_id_is_the_context_name(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("ctxname")
    async with Clusters() as clusters:
        await clusters.register_by_string(eks_lab.kubeconfig("ctxname", static_token=True, context="my-ctx"))
        assert list(clusters) == ["my-ctx"] and "my-ctx" in clusters and len(clusters) == 1
        assert clusters.default.id == "my-ctx"


@needs_aws
async def test_an_aws_eks_get_token_kubeconfig_works_through_the_exec_plugin(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("viaexec")
    async with Clusters() as clusters:
        k = await clusters.register_by_string(
            eks_lab.kubeconfig("viaexec"), cluster_id="viaexec", token_source="exec"
        )
        version = await VersionApi(k.api_client).get_code()
        assert version.major == "1"
        cluster = clusters.get("viaexec")
        assert cluster.is_eks and cluster.eks is not None and cluster.eks.cluster_name == "viaexec"
        assert cluster.token_provider is not None and cluster.token_provider.source.kind == "exec"
        stats = cluster.auth_stats
        assert stats is not None and stats.fetches == 1 and stats.expires_at is not None
        assert [t.get_name() for t in refresh_tasks("viaexec")] == ["kom-async:refresh:viaexec"]


async def test_unregister_cancels_the_refresh_task_and_closes_the_client(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("gone")
    async with Clusters() as clusters:
        k = await clusters.register_eks_by_string(eks_lab.kubeconfig("gone"), cluster_id="gone")
        assert refresh_tasks("gone")
        session = k.api_client.rest_client.pool_manager
        await clusters.unregister("gone")
        assert refresh_tasks("gone") == []
        assert session.closed
        assert "gone" not in clusters
        with pytest.raises(ClusterNotFound):
            clusters.get("gone")


async def test_registering_an_existing_id_needs_replace(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("dup")
    text = eks_lab.kubeconfig("dup", static_token=True)
    async with Clusters() as clusters:
        first = await clusters.register_by_string(text, cluster_id="dup")
        with pytest.raises(ClusterExistsError, match="replace=True"):
            await clusters.register_by_string(text, cluster_id="dup")
        second = await clusters.register_by_string(text, cluster_id="dup", replace=True)
        assert second is not first and clusters.get("dup").kubectl is second
        assert first.api_client.rest_client.pool_manager.closed


async def test_registering_the_same_id_twice_concurrently_yields_one_cluster(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("race")
    text = eks_lab.kubeconfig("race")
    async with Clusters() as clusters:
        results = await asyncio.gather(
            clusters.register_by_string(text, cluster_id="race"),
            clusters.register_by_string(text, cluster_id="race"),
            return_exceptions=True,
        )
        assert sum(isinstance(r, Kubectl) for r in results) == 1
        assert sum(isinstance(r, ClusterExistsError) for r in results) == 1
        assert len(clusters) == 1 and len(refresh_tasks("race")) == 1


async def test_a_failed_registration_leaves_nothing_behind(eks_lab: EKSLab, tmp_path: Path) -> None:
    await eks_lab.create_cluster("broken")
    text = eks_lab.kubeconfig("broken", exec_command="/bin/false", exec_args=[], env={})
    async with Clusters() as clusters:
        with pytest.raises(ExecPluginError, match="exit"):
            await clusters.register_by_string(text, cluster_id="broken")
        assert "broken" not in clusters and refresh_tasks("broken") == []
        # and the id is free again
        await clusters.register_by_string(eks_lab.kubeconfig("broken", static_token=True), cluster_id="broken")


async def test_register_eks_refuses_a_kubeconfig_that_is_not_eks(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("noteks")
    async with Clusters() as clusters:
        with pytest.raises(EKSAuthError) as info:
            await clusters.register_eks_by_string(eks_lab.kubeconfig("noteks", static_token=True))
        assert info.value.kind is EKSAuthErrorKind.InvalidKubeconfig
        with pytest.raises(KubeconfigError):
            await clusters.register_eks_by_string("not: [valid")


async def test_by_path_variants(eks_lab: EKSLab, tmp_path: Path) -> None:
    await eks_lab.create_cluster("onfile")
    path = eks_lab.write_kubeconfig(tmp_path / "kubeconfig", "onfile")
    async with Clusters() as clusters:
        await clusters.register_by_path(path, cluster_id="a")
        await clusters.register_eks_by_path(path, cluster_id="b")
        assert clusters.get("a").is_eks and clusters.get("b").is_eks


async def test_unknown_ids_raise_cluster_not_found_which_is_also_a_key_error() -> None:
    async with Clusters() as clusters:
        with pytest.raises(KeyError) as info:
            clusters.get("nope")
        assert isinstance(info.value, ClusterNotFound)
        assert str(info.value) == "cluster 'nope' is not registered (no cluster is registered)"
        with pytest.raises(ClusterNotFound):
            await clusters.unregister("nope")
        with pytest.raises(ClusterNotFound):
            _ = clusters.default


async def test_an_exec_policy_refuses_commands_off_its_allowlist(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("policed")
    evil = eks_lab.kubeconfig("policed", exec_command="sh", exec_args=["-c", "echo pwned"], env={})
    async with Clusters(exec_policy=ExecPolicy()) as clusters:
        with pytest.raises(ExecNotAllowed, match="'sh' refused"):
            await clusters.register_by_string(evil)
        with pytest.raises(ExecNotAllowed, match="disabled"):
            await clusters.register_by_string(
                eks_lab.kubeconfig("policed"), exec_policy=ExecPolicy(deny_all=True)
            )
        await clusters.register_by_string(eks_lab.kubeconfig("policed"))  # aws is allowed


async def test_aclose_closes_every_cluster(eks_lab: EKSLab) -> None:
    for name in ("x1", "x2", "x3"):
        await eks_lab.create_cluster(name)
    clusters = Clusters()
    sessions = []
    for name in ("x1", "x2", "x3"):
        k = await clusters.register_by_string(eks_lab.kubeconfig(name), cluster_id=name)
        sessions.append(k.api_client.rest_client.pool_manager)
    assert len(refresh_tasks()) >= 3
    await clusters.aclose()
    assert len(clusters) == 0 and all(s.closed for s in sessions)
    assert [t for t in refresh_tasks() if t.get_name().split(":")[-1] in ("x1", "x2", "x3")] == []


async def test_reads_are_retried_on_a_503_unless_the_registry_turns_retries_off(eks_lab: EKSLab) -> None:
    from kubernetes_asyncio.client.exceptions import ApiException

    await eks_lab.create_cluster("flap")
    text = eks_lab.kubeconfig("flap", static_token=True)
    async with Clusters() as clusters:
        k = await clusters.register_by_string(text, cluster_id="flap")
        eks_lab.api_fault("flap", status=503, retry_after=0, count=1)
        assert (await CoreV1Api(k.api_client).list_namespace()).items
    async with Clusters(retry_policy=None) as clusters:
        k = await clusters.register_by_string(text, cluster_id="flap")
        eks_lab.api_fault("flap", status=503, retry_after=0, count=1)
        with pytest.raises(ApiException) as info:
            await CoreV1Api(k.api_client).list_namespace()
        assert info.value.status == 503

"""``register_eks_cluster`` as kom's design has it: ``kubeconfig`` required, content or a path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from mcp import Client
from mcp_helpers import call_error, call_ok, held, stdio_client

from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def kube_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kubeconfigs")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(lab: EKSLab, kube_dir: Path) -> AsyncIterator[Client]:
    """``kom-async mcp --kubeconfig-dir <dir>`` over stdio."""
    async for c in held(lambda: stdio_client(lab, "--kubeconfig-dir", str(kube_dir))):
        yield c


async def test_the_schema_requires_kubeconfig_and_offers_by_name_apart(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = tools["register_eks_cluster"].input_schema
    assert schema["required"] == ["kubeconfig"]
    assert set(schema["properties"]) == {"kubeconfig", "cluster_id", "context", "replace"}
    by_name = tools["register_eks_cluster_by_name"].input_schema
    assert sorted(by_name["required"]) == ["cluster_name", "region"]


async def test_kubeconfig_content_registers(lab: EKSLab, cluster: LabCluster, client: Client) -> None:
    text = lab.kubeconfig(cluster.name, env=None)  # aws eks get-token with the server's own AWS identity
    registered = await call_ok(client, "register_eks_cluster", kubeconfig=text, cluster_id="by-content")
    assert registered["registered"]["is_eks"] is True
    assert "demo" in {ns["name"] for ns in (await call_ok(client, "list_k8s_namespace", cluster="by-content"))["items"]}


async def test_a_kubeconfig_path_in_the_kubeconfig_dir_registers(
    lab: EKSLab, cluster: LabCluster, client: Client, kube_dir: Path
) -> None:
    path = lab.write_kubeconfig(kube_dir / "eks.yaml", cluster.name, env=None)
    registered = await call_ok(client, "register_eks_cluster", kubeconfig=str(path), cluster_id="by-path")
    assert registered["registered"]["id"] == "by-path" and registered["registered"]["is_eks"] is True


async def test_a_path_outside_the_kubeconfig_dirs_is_refused_unread(
    lab: EKSLab, cluster: LabCluster, client: Client, tmp_path: Path
) -> None:
    outside = lab.write_kubeconfig(tmp_path / "eks.yaml", cluster.name, env=None)
    error = await call_error(client, "register_eks_cluster", kubeconfig=str(outside))
    assert "outside the directories" in error and "--kubeconfig-dir" in error


async def test_no_arguments_says_kubeconfig_is_required(client: Client) -> None:
    error = await call_error(client, "register_eks_cluster")
    assert "kubeconfig" in error and "required" in error.lower()
    empty = await call_error(client, "register_eks_cluster", kubeconfig="  ")
    assert "YAML content or the path" in empty


async def test_a_kubeconfig_that_is_not_eks_points_to_register_k8s_cluster(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    error = await call_error(client, "register_eks_cluster", kubeconfig=lab.kubeconfig(cluster.name, static_token=True))
    assert "register_k8s_cluster" in error


async def test_by_name_registers_without_a_kubeconfig(lab: EKSLab, cluster: LabCluster, client: Client) -> None:
    registered = await call_ok(client, "register_eks_cluster_by_name", cluster_name=cluster.name, region=cluster.region)
    assert registered["registered"]["id"] == f"{cluster.region}-{cluster.name}"
    missing = await call_error(client, "register_eks_cluster_by_name", cluster_name=cluster.name)
    assert "region" in missing

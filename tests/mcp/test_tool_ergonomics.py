"""The tools speak MCP: errors name tools, not Python functions; both register tools take a
kubeconfig the same way; wrong arguments come back as one readable line."""

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
    return tmp_path_factory.mktemp("kube")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(lab: EKSLab, kube_dir: Path) -> AsyncIterator[Client]:
    async for c in held(lambda: stdio_client(lab, "--kubeconfig-dir", str(kube_dir))):
        yield c


async def test_an_unknown_kind_points_to_the_tool_that_lists_kinds(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    cid = f"kinds-{cluster.name}"
    await call_ok(
        client,
        "register_k8s_cluster",
        kubeconfig=lab.kubeconfig(cluster.name, static_token=True),
        cluster_id=cid,
    )
    for tool, arguments in (
        ("list_k8s_resource", {"kind": "flurbs"}),
        ("get_k8s_resource", {"kind": "flurbs", "name": "x"}),
        ("describe_k8s_resource", {"kind": "Flurb", "name": "x", "group": "example.com", "version": "v1"}),
        ("delete_k8s_resource", {"kind": "flurbs", "name": "x"}),
        ("patch_k8s_resource", {"kind": "flurbs", "name": "x", "patch": {"a": 1}}),
    ):
        error = await call_error(client, tool, cluster=cid, **arguments)
        assert "list_k8s_api_resources" in error, error
        assert "api_resources()" not in error and "gvk(" not in error, error
    await call_ok(client, "unregister_k8s_cluster", cluster=cid)


async def test_both_register_tools_take_a_kubeconfig_as_content_or_path(
    lab: EKSLab, cluster: LabCluster, client: Client, kube_dir: Path
) -> None:
    tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
    assert (
        tools["register_k8s_cluster"]["properties"]["kubeconfig"]
        == tools["register_eks_cluster"]["properties"]["kubeconfig"]
    )
    assert "kubeconfig_path" not in tools["register_k8s_cluster"]["properties"]
    (kube_dir / "sub").mkdir(exist_ok=True)
    path = lab.write_kubeconfig(kube_dir / "sub" / f"{cluster.name}.yaml", cluster.name, static_token=True)
    for how, kubeconfig in (("path", str(path)), ("content", path.read_text())):
        cid = f"{how}-{cluster.name}"
        await call_ok(client, "register_k8s_cluster", kubeconfig=kubeconfig, cluster_id=cid)
        pods = await call_ok(client, "list_k8s_pod", namespace="demo", cluster=cid)
        assert pods["count"] == 3
        await call_ok(client, "unregister_k8s_cluster", cluster=cid)


async def test_wrong_arguments_come_back_as_one_line_naming_each(client: Client) -> None:
    error = await call_error(client, "get_k8s_pod_logs", name="x", tail_lines=-1, since_seconds="abc")
    assert "\n" not in error and "pydantic" not in error, error
    assert "get_k8s_pod_logs: wrong arguments: tail_lines: " in error and "; since_seconds: " in error, error
    assert "abc" not in error  # the values are the caller's own; only the names come back
    assert "kind: field required" in await call_error(client, "list_k8s_resource")


async def test_the_logs_tool_describes_a_pods_namespace(client: Client) -> None:
    (logs,) = [t for t in (await client.list_tools()).tools if t.name == "get_k8s_pod_logs"]
    text = str(logs.input_schema["properties"]["namespace"])
    assert "pod" in text and "cluster-scoped" not in text

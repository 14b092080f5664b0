"""An agent drives ``kom-async mcp --transport http`` (streamable HTTP, bearer key) against the lab."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator

import httpx2
import pytest
import pytest_asyncio
from mcp import Client
from mcp_helpers import HTTPServer, call_error, call_ok, held

from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = secrets.token_urlsafe(24)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "0"},
    },
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(lab: EKSLab) -> AsyncIterator[HTTPServer]:
    """One HTTP server subprocess on a free 127.0.0.1 port; its key comes from the environment."""
    async with HTTPServer.run(lab, key=KEY) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(server: HTTPServer) -> AsyncIterator[Client]:
    """An MCP client sending the key, shared by this module's tests."""
    async for c in held(lambda: server.client(KEY)):
        yield c


async def test_requests_without_the_right_key_get_401(server: HTTPServer) -> None:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx2.AsyncClient() as http:
        for auth in (None, "Bearer wrong", f"Basic {KEY}", f"Bearer {KEY}x", "Bearer"):
            sent = dict(headers, Authorization=auth) if auth else headers
            response = await http.post(server.url, content=json.dumps(INITIALIZE), headers=sent)
            assert response.status_code == 401, auth
            assert response.headers["www-authenticate"].startswith("Bearer")
        response = await http.post(
            server.url, content=json.dumps(INITIALIZE), headers=dict(headers, Authorization=f"Bearer {KEY}")
        )
        assert response.status_code == 200


async def test_agent_registers_an_eks_kubeconfig_over_http(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    c = cluster.name
    registered = await call_ok(client, "register_eks_cluster", kubeconfig=lab.kubeconfig(c, env=None), cluster_id=c)
    assert registered["registered"]["is_eks"] is True
    pods = await call_ok(client, "list_k8s_pod", namespace="demo", cluster=c)
    assert {p["name"] for p in pods["items"]} == {"web-0", "web-1", "api-0"}

    text = (await client.call_tool("list_k8s_clusters", {})).content[0]
    assert "k8s-aws-v1." not in str(text)
    assert lab.aws_env["AWS_SECRET_ACCESS_KEY"] not in str(text)
    assert KEY not in str(text)


async def test_agent_registers_by_name_and_does_daily_operations(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    c = f"{cluster.region}-{cluster.name}"
    await call_ok(client, "register_eks_cluster_by_name", cluster_name=cluster.name, region=cluster.region)
    lab.set_pod_log(cluster.name, "demo", "web-0", ["booting", "listening on :80"])

    logs = await call_ok(client, "get_k8s_pod_logs", name="web-0", namespace="demo", cluster=c)
    assert "listening on :80" in logs

    scaled = await call_ok(
        client, "scale_k8s_deployment", name="web", namespace="demo", replicas=3, cluster=c
    )
    assert scaled["replicas"] == 3
    deploy = await call_ok(client, "get_k8s_resource", kind="deploy", name="web", namespace="demo", cluster=c)
    assert deploy["spec"]["replicas"] == 3

    restarted = await call_ok(client, "restart_k8s_deployment", name="web", namespace="demo", cluster=c)
    assert restarted["restartedAt"]

    node = "lab-node-1"
    assert (await call_ok(client, "cordon_k8s_node", name=node, cluster=c))["unschedulable"] is True
    assert (await call_ok(client, "uncordon_k8s_node", name=node, cluster=c))["unschedulable"] is False

    patched = await call_ok(
        client,
        "patch_k8s_resource",
        kind="Deployment",
        group="apps",
        version="v1",
        name="web",
        namespace="demo",
        patch={"metadata": {"labels": {"team": "agents"}}},
        cluster=c,
    )
    assert patched["metadata"]["labels"]["team"] == "agents"

    described = await call_ok(
        client, "describe_k8s_resource", kind="pod", name="web-0", namespace="demo", cluster=c
    )
    assert described["object"]["metadata"]["name"] == "web-0"
    assert isinstance(described.get("events", []), list)

    deleted = await call_ok(
        client, "delete_k8s_resource", kind="pod", name="api-0", namespace="demo", cluster=c
    )
    assert deleted["deleted"]["name"] == "api-0"
    pods = await call_ok(client, "list_k8s_pod", namespace="demo", cluster=c)
    assert "api-0" not in {p["name"] for p in pods["items"]}


async def test_lists_come_in_pages_with_a_continue_token(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    c = cluster.name
    await call_ok(
        client, "register_k8s_cluster", kubeconfig=lab.kubeconfig(c, static_token=True), cluster_id=c
    )
    seen: list[str] = []
    token = None
    for _ in range(5):
        page = await call_ok(
            client,
            "list_k8s_resource",
            kind="pods",
            namespace="demo",
            limit=1,
            continue_token=token,
            cluster=c,
        )
        assert page["count"] == 1 and page["kind"] == "Pod"
        seen.append(page["items"][0]["metadata"]["name"])
        token = page.get("continue")
        if token is None:
            break
        assert "continue_token" in page["next"]
    assert sorted(seen) == ["api-0", "web-0", "web-1"]


async def test_bad_calls_come_back_as_tool_errors_and_the_server_keeps_serving(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    c = cluster.name
    await call_ok(
        client, "register_k8s_cluster", kubeconfig=lab.kubeconfig(c, static_token=True), cluster_id=c
    )

    missing = await call_error(
        client, "get_k8s_resource", kind="pod", name="nope", namespace="demo", cluster=c
    )
    assert "404" in missing and "not found" in missing
    unknown_kind = await call_error(client, "list_k8s_resource", kind="widgets", cluster=c)
    assert "serves no kind 'widgets'" in unknown_kind and "list_k8s_api_resources" in unknown_kind
    unknown_cluster = await call_error(client, "list_k8s_pod", cluster="nowhere")
    assert "'nowhere' is not registered" in unknown_cluster
    no_name = await call_error(client, "get_k8s_resource", kind="pod", cluster=c)
    assert "name" in no_name
    bad_yaml = await call_error(client, "apply_k8s_yaml", yaml_text="kind: [", cluster=c)
    assert "does not parse" in bad_yaml
    not_a_kubeconfig = await call_error(client, "register_k8s_cluster", kubeconfig="just: text")
    assert "Traceback" not in not_a_kubeconfig
    not_content_nor_allowed_path = await call_error(client, "register_eks_cluster", kubeconfig="y")
    assert "outside the directories" in not_content_nor_allowed_path

    assert (await call_ok(client, "list_k8s_pod", namespace="demo", cluster=c))["count"] == 3

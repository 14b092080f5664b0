"""The tools speak MCP's structured output: each advertises an ``outputSchema`` (derived from its
typed result), and each call answers with ``structuredContent`` that validates against it and
says exactly what the compact JSON text says (logs: the text is the log itself)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
import pytest_asyncio
from mcp import Client
from mcp.types import CallToolResult
from mcp_helpers import held, stdio_client, text_of

from kom_async.lab import EKSLab, LabAccount, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

REGION = "us-east-1"

# Every tool and the top-level keys its result always has. get/patch return an object of any kind:
# a generic JSON object schema (no fixed keys).
TYPED: dict[str, set[str]] = {
    "list_k8s_clusters": {"clusters"},
    "register_eks_cluster": {"registered"},
    "register_eks_cluster_by_name": {"registered"},
    "register_k8s_cluster": {"registered"},
    "unregister_k8s_cluster": {"unregistered", "remaining"},
    "discover_eks_clusters": {"registered", "kept", "unregistered", "found", "failures"},
    "list_k8s_api_resources": {"resources"},
    "list_k8s_namespace": {"cluster", "apiVersion", "kind", "namespace", "count", "items"},
    "list_k8s_pod": {"cluster", "apiVersion", "kind", "namespace", "count", "items"},
    "list_k8s_event": {"cluster", "apiVersion", "kind", "namespace", "count", "items"},
    "list_k8s_resource": {"cluster", "apiVersion", "kind", "namespace", "count", "items"},
    "describe_k8s_resource": {"object"},
    "get_k8s_pod_logs": {"pod", "namespace", "container", "log", "truncated"},
    "scale_k8s_deployment": {"deployment", "namespace", "replicas"},
    "restart_k8s_deployment": {"deployment", "namespace", "restartedAt"},
    "cordon_k8s_node": {"node", "unschedulable"},
    "uncordon_k8s_node": {"node", "unschedulable"},
    "delete_k8s_resource": {"deleted", "status"},
    "apply_k8s_yaml": {"applied"},
    "delete_k8s_yaml": {"results"},
}
OBJECT_TYPED = {"get_k8s_resource", "patch_k8s_resource"}

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: schema-secret
  namespace: demo
stringData:
  password: hunter2-schema
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def account(lab: EKSLab) -> LabAccount:
    account = await lab.create_account()
    await lab.create_cluster("schema-a", REGION, account=account)
    return account


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(lab: EKSLab, account: LabAccount) -> AsyncIterator[Client]:
    """A server with discovery on (so every tool is offered)."""
    args = ["--discover-region", REGION, "--discover-role-arn", account.role_arn]
    async for c in held(lambda: stdio_client(lab, *args)):
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def schemas(client: Client) -> dict[str, dict[str, Any] | None]:
    return {t.name: t.output_schema for t in (await client.list_tools()).tools}


async def structured(
    client: Client, schemas: dict[str, dict[str, Any] | None], tool: str, **arguments: Any
) -> dict[str, Any]:
    """Call ``tool``; check its structured content against its schema and its text; return it."""
    result: CallToolResult = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    data = result.structured_content
    assert isinstance(data, dict), f"{tool} sent no structuredContent"
    schema = schemas[tool]
    assert schema is not None
    jsonschema.validate(data, schema)
    assert TYPED.get(tool, set()) <= data.keys()
    if tool != "get_k8s_pod_logs":  # the same compact JSON agents read as text
        assert text_of(result) == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return data


async def test_every_tool_advertises_its_output_schema(schemas: dict[str, dict[str, Any] | None]) -> None:
    assert set(schemas) == set(TYPED) | OBJECT_TYPED  # a new tool gets a row here
    for tool, keys in TYPED.items():
        schema = schemas[tool]
        assert schema is not None, f"{tool} lost its outputSchema"
        assert schema["type"] == "object" and keys <= set(schema["properties"]), tool
        assert keys <= set(schema.get("required", ())), tool
    for tool in OBJECT_TYPED:
        schema = schemas[tool]
        assert schema is not None and schema["type"] == "object", f"{tool} lost its outputSchema"
    pods = schemas["list_k8s_pod"]
    assert pods is not None
    (line,) = [d for name, d in pods["$defs"].items() if name == "PodLine"]
    assert {"name", "phase", "ready", "restarts", "node", "images"} <= set(line["properties"])


async def test_registry_tools_answer_with_structured_content(
    lab: EKSLab, cluster: LabCluster, client: Client, schemas: dict[str, dict[str, Any] | None]
) -> None:
    kubeconfig = lab.kubeconfig(cluster.name, env=None)
    got = await structured(client, schemas, "register_eks_cluster", kubeconfig=kubeconfig, cluster_id="s1")
    assert got["registered"]["id"] == "s1" and got["registered"]["is_eks"] is True
    got = await structured(client, schemas, "register_k8s_cluster", kubeconfig=kubeconfig, cluster_id="s2")
    assert got["registered"]["auth"]
    by_name = await structured(
        client, schemas, "register_eks_cluster_by_name", cluster_name=cluster.name, region=cluster.region
    )
    assert by_name["registered"]["eks"]["region"] == cluster.region
    listed = await structured(client, schemas, "list_k8s_clusters")
    assert {"s1", "s2"} <= {c["id"] for c in listed["clusters"]}
    for cluster_id in ("s1", "s2", by_name["registered"]["id"]):
        gone = await structured(client, schemas, "unregister_k8s_cluster", cluster=cluster_id)
        assert gone["unregistered"] == cluster_id and cluster_id not in gone["remaining"]


async def test_cluster_tools_answer_with_structured_content(
    lab: EKSLab, account: LabAccount, client: Client, schemas: dict[str, dict[str, Any] | None]
) -> None:
    found = await structured(client, schemas, "discover_eks_clusters")
    c = f"{account.account_id}-{REGION}-schema-a"
    assert c in found["registered"] + found["kept"]
    where = {"cluster": c, "namespace": "demo"}

    kinds = await structured(client, schemas, "list_k8s_api_resources", cluster=c)
    assert "Pod" in {r["kind"] for r in kinds["resources"]}
    namespaces = await structured(client, schemas, "list_k8s_namespace", cluster=c)
    assert "demo" in {ns["name"] for ns in namespaces["items"]}
    pods = await structured(client, schemas, "list_k8s_pod", **where)
    assert {p["name"] for p in pods["items"]} == {"web-0", "web-1", "api-0"}
    await structured(client, schemas, "list_k8s_event", **where)
    listed = await structured(client, schemas, "list_k8s_resource", kind="deploy", **where)
    assert listed["count"] == 1 and listed["items"][0]["metadata"]["name"] == "web"

    lab.set_pod_log("schema-a", "demo", "web-0", ["booting", "listening on :80"])
    result = await client.call_tool("get_k8s_pod_logs", {"name": "web-0", **where})
    logs = await structured(client, schemas, "get_k8s_pod_logs", name="web-0", **where)
    assert logs["log"] == text_of(result) and "listening on :80" in logs["log"]  # text: the log itself
    assert logs["pod"] == "web-0" and logs["truncated"] is False

    assert (await structured(client, schemas, "scale_k8s_deployment", name="web", replicas=2, **where))[
        "replicas"
    ] == 2
    assert (await structured(client, schemas, "restart_k8s_deployment", name="web", **where))["restartedAt"]
    node = {"name": "lab-node-1", "cluster": c}
    assert (await structured(client, schemas, "cordon_k8s_node", **node))["unschedulable"] is True
    assert (await structured(client, schemas, "uncordon_k8s_node", **node))["unschedulable"] is False

    web = {"kind": "Deployment", "name": "web", **where}
    got = await structured(client, schemas, "get_k8s_resource", **web)
    assert got["kind"] == "Deployment" and "managedFields" not in got["metadata"]
    patch = {"metadata": {"labels": {"team": "schemas"}}}
    patched = await structured(client, schemas, "patch_k8s_resource", patch=patch, **web)
    assert patched["metadata"]["labels"]["team"] == "schemas"
    described = await structured(client, schemas, "describe_k8s_resource", **web)
    assert described["object"]["metadata"]["name"] == "web"


async def test_secrets_stay_hidden_in_structured_content(
    account: LabAccount, client: Client, schemas: dict[str, dict[str, Any] | None]
) -> None:
    await structured(client, schemas, "discover_eks_clusters")
    c = f"{account.account_id}-{REGION}-schema-a"
    applied = await structured(client, schemas, "apply_k8s_yaml", yaml_text=SECRET, cluster=c)
    assert applied["applied"][0]["kind"] == "Secret"
    secret = {"kind": "Secret", "name": "schema-secret", "namespace": "demo", "cluster": c}
    for tool in ("get_k8s_resource", "describe_k8s_resource"):
        result = await client.call_tool(tool, secret)
        assert "hunter2-schema" not in str(result.structured_content) + text_of(result), tool
    listed = await structured(
        client, schemas, "list_k8s_resource", kind="secrets", namespace="demo", cluster=c
    )
    assert "hunter2-schema" not in json.dumps(listed)
    assert (await structured(client, schemas, "delete_k8s_yaml", yaml_text=SECRET, cluster=c))["results"][0][
        "deleted"
    ] is True
    await structured(client, schemas, "apply_k8s_yaml", yaml_text=SECRET, cluster=c)
    deleted = await structured(client, schemas, "delete_k8s_resource", **secret)
    assert deleted["deleted"]["name"] == "schema-secret"


async def test_failures_stay_tool_errors_without_structured_content(
    account: LabAccount, client: Client
) -> None:
    c = f"{account.account_id}-{REGION}-schema-a"
    await client.call_tool("discover_eks_clusters", {})
    result = await client.call_tool(
        "get_k8s_resource", {"kind": "Deployment", "name": "absent", "namespace": "demo", "cluster": c}
    )
    assert result.is_error and result.structured_content is None
    assert "Kubernetes API error" in text_of(result)

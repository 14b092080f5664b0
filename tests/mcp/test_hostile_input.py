"""An agent passes hostile input to the real MCP server (stdio and streamable HTTP): path-shaped
names, a password in a server URL, a cluster id with a newline.

Before names were checked, ``delete_k8s_resource(kind="configmaps", name="..", namespace="team-a")``
deleted namespace team-a. Every tool that takes a name or namespace is tried with '..', '.',
'a/b', '%2e%2e' and ''; the lab must receive no request for any of them, and the namespace and
its objects must still be there afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client
from mcp_helpers import HTTPServer, call_error, call_ok, held, stdio_client

from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = secrets.token_urlsafe(24)
BAD = ["..", ".", "a/b", "%2e%2e", ""]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["stdio", "http"])
async def client(request: pytest.FixtureRequest, lab: EKSLab) -> AsyncIterator[Client]:
    """The real ``kom-async mcp`` server, once per transport."""
    if request.param == "stdio":
        async for c in held(lambda: stdio_client(lab)):
            yield c
        return
    async with HTTPServer.run(lab, key=KEY) as server:
        async for c in held(lambda: server.client(KEY)):
            yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def target(lab: EKSLab, client: Client) -> tuple[LabCluster, str]:
    """A lab cluster registered in the server under a static token; namespace team-a holds a ConfigMap."""
    cluster = await lab.create_cluster(f"names{secrets.token_hex(3)}")
    await call_ok(
        client, "register_k8s_cluster", kubeconfig=lab.kubeconfig(cluster.name, static_token=True),
        cluster_id=cluster.name,
    )
    await call_ok(
        client,
        "apply_k8s_yaml",
        cluster=cluster.name,
        yaml_text="apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: team-a}\ndata: {a: b}\n",
    )
    await call_ok(client, "list_k8s_resource", cluster=cluster.name, kind="configmaps")  # warm discovery
    return cluster, cluster.name


def attacks(bad: str) -> list[tuple[str, dict[str, Any]]]:
    """Every tool call that carries ``bad`` as a name or as a namespace."""
    one = {"kind": "configmaps", "name": bad, "namespace": "team-a"}
    ns = {"kind": "configmaps", "name": "settings", "namespace": bad}
    doc = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: '{bad}', namespace: team-a}}\n"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_k8s_resource", one),
        ("describe_k8s_resource", one),
        ("delete_k8s_resource", one),
        ("patch_k8s_resource", {**one, "patch": {"data": {"x": "y"}}}),
        ("get_k8s_pod_logs", {"name": bad, "namespace": "team-a"}),
        ("scale_k8s_deployment", {"name": bad, "namespace": "team-a", "replicas": 0}),
        ("restart_k8s_deployment", {"name": bad, "namespace": "team-a"}),
        ("cordon_k8s_node", {"name": bad}),
        ("uncordon_k8s_node", {"name": bad}),
        ("apply_k8s_yaml", {"yaml_text": doc}),
        ("delete_k8s_yaml", {"yaml_text": doc}),
    ]
    if bad:  # an empty namespace means "default" in every tool, like kubectl
        calls += [
            ("get_k8s_resource", ns),
            ("delete_k8s_resource", ns),
            ("patch_k8s_resource", {**ns, "patch": {"data": {"x": "y"}}}),
            ("list_k8s_resource", {"kind": "configmaps", "namespace": bad}),
            ("list_k8s_pod", {"namespace": bad}),
            ("list_k8s_event", {"namespace": bad}),
            ("get_k8s_pod_logs", {"name": "web-0", "namespace": bad}),
            ("scale_k8s_deployment", {"name": "web", "namespace": bad, "replicas": 0}),
            ("apply_k8s_yaml", {"yaml_text": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                                "namespace": bad}),
        ]
    return calls


@pytest.mark.parametrize("bad", BAD)
async def test_no_tool_sends_a_request_for_a_path_shaped_name(
    lab: EKSLab, client: Client, target: tuple[LabCluster, str], bad: str
) -> None:
    cluster, cid = target
    for tool, arguments in attacks(bad):
        before = lab.stats(cluster.name).requests
        text = await call_error(client, tool, cluster=cid, **arguments)
        assert lab.stats(cluster.name).requests == before, f"{tool}({arguments}) reached the server"
        assert "name" in text or "namespace" in text, text
    namespaces = await call_ok(client, "list_k8s_namespace", cluster=cid)
    assert "team-a" in {n["name"] for n in namespaces["items"]}
    settings = await call_ok(client, "get_k8s_resource", cluster=cid, kind="configmaps", name="settings",
                             namespace="team-a")
    assert settings["data"] == {"a": "b"}


async def test_a_password_in_the_server_url_never_reaches_the_client(lab: EKSLab, client: Client) -> None:
    cluster = await lab.create_cluster(f"ui{secrets.token_hex(3)}")
    password = f"url-password-{secrets.token_hex(6)}"
    text = lab.kubeconfig(cluster.name, static_token=True).replace(
        "server: https://", f"server: https://admin:{password}@"
    )
    registered = await call_ok(client, "register_k8s_cluster", kubeconfig=text, cluster_id=cluster.name)
    listed = await call_ok(client, "list_k8s_clusters")
    namespaces = await call_ok(client, "list_k8s_namespace", cluster=cluster.name)
    assert "demo" in {n["name"] for n in namespaces["items"]}
    broken = text.replace("@127.0.0.1", "@[::1")
    refused = await call_error(client, "register_k8s_cluster", kubeconfig=broken, cluster_id="broken")
    assert "not an API server URL" in refused
    for shown in (str(registered), str(listed), refused):
        assert password not in shown


async def test_a_cluster_id_with_a_newline_is_refused(lab: EKSLab, client: Client) -> None:
    cluster = await lab.create_cluster(f"nl{secrets.token_hex(3)}")
    text = lab.kubeconfig(cluster.name, static_token=True)
    error = await call_error(client, "register_k8s_cluster", kubeconfig=text, cluster_id="a\nINFO forged")
    assert "cluster_id" in error and "control character" in error
    listed = await call_ok(client, "list_k8s_clusters")
    assert all("\n" not in c["id"] for c in listed["clusters"])

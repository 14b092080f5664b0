"""An agent drives ``kom-async mcp`` over stdio (the server is a subprocess) against the lab."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp import Client
from mcp_helpers import call_error, call_ok, held, stdio_client

from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(lab: EKSLab) -> AsyncIterator[Client]:
    """One ``kom-async mcp`` subprocess with default flags, shared by this module's tests."""
    async for c in held(lambda: stdio_client(lab)):
        yield c


def assert_no_secrets(text: str, lab: EKSLab) -> None:
    """No EKS token, AWS secret or static token in what a client sees."""
    assert "k8s-aws-v1." not in text
    assert lab.aws_env["AWS_SECRET_ACCESS_KEY"] not in text
    for cluster in lab.clusters:
        assert lab.static_token(cluster.name, cluster.region) not in text


async def test_agent_registers_an_eks_kubeconfig_and_lists_its_pods(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    # exec: aws eks get-token with no env: untrusted, the kubeconfig may not point AWS anywhere;
    # the server's own environment has the lab's AWS settings
    kubeconfig = lab.kubeconfig(cluster.name, env=None)
    registered = await call_ok(client, "register_eks_cluster", kubeconfig=kubeconfig, cluster_id=cluster.name)
    assert registered["registered"]["is_eks"] is True

    pods = await call_ok(client, "list_k8s_pod", namespace="demo", cluster=cluster.name)
    assert {p["name"] for p in pods["items"]} == {"web-0", "web-1", "api-0"}

    listing = await client.call_tool("list_k8s_clusters", {})
    clusters = (await call_ok(client, "list_k8s_clusters"))["clusters"]
    (info,) = [c for c in clusters if c["id"] == cluster.name]
    assert info["is_eks"] is True
    assert info["eks"] == {"cluster_name": cluster.name, "region": cluster.region}
    assert info["token"]["expires_at"] and info["token"]["last_error"] is None
    assert_no_secrets(str(listing.content) + str(registered), lab)


async def test_agent_registers_an_eks_cluster_by_name_and_region(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    registered = await call_ok(
        client, "register_eks_cluster_by_name", cluster_name=cluster.name, region=cluster.region
    )
    cluster_id = f"{cluster.region}-{cluster.name}"
    assert registered["registered"]["id"] == cluster_id
    assert registered["registered"]["server"] == cluster.server

    namespaces = await call_ok(client, "list_k8s_namespace", cluster=cluster_id)
    assert "demo" in {ns["name"] for ns in namespaces["items"]}
    assert_no_secrets(str(registered), lab)


CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: agent-settings
  namespace: demo
data:
  mode: fast
---
apiVersion: v1
kind: Service
metadata:
  name: agent-web
  namespace: demo
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


async def test_agent_applies_a_yaml_then_deletes_it(lab: EKSLab, cluster: LabCluster, client: Client) -> None:
    c = cluster.name
    await call_ok(client, "register_eks_cluster", kubeconfig=lab.kubeconfig(c, env=None), cluster_id=c)

    applied = await call_ok(client, "apply_k8s_yaml", yaml_text=CONFIG, cluster=c)
    assert [(o["kind"], o["name"]) for o in applied["applied"]] == [
        ("ConfigMap", "agent-settings"),
        ("Service", "agent-web"),
    ]
    cm = await call_ok(
        client, "get_k8s_resource", kind="cm", name="agent-settings", namespace="demo", cluster=c
    )
    assert cm["data"] == {"mode": "fast"}
    assert "managedFields" not in cm["metadata"]

    deleted = await call_ok(client, "delete_k8s_yaml", yaml_text=CONFIG, cluster=c)
    assert [r["deleted"] for r in deleted["results"]] == [True, True]
    gone = await call_error(
        client, "get_k8s_resource", kind="cm", name="agent-settings", namespace="demo", cluster=c
    )
    assert "not found" in gone


async def test_a_kubeconfig_that_would_run_sh_is_refused_and_nothing_runs(
    lab: EKSLab, cluster: LabCluster, client: Client, tmp_path: Path
) -> None:
    marker = f"{tmp_path}/ran"
    evil = lab.kubeconfig(cluster.name, exec_command="sh", exec_args=["-c", f"touch {marker}"], env=None)
    aws_s3 = lab.kubeconfig(cluster.name, exec_args=["s3", "ls"])
    token_file = lab.kubeconfig(cluster.name, static_token=True).replace("token:", "tokenFile: /etc/passwd #")
    before = (await call_ok(client, "list_k8s_clusters"))["clusters"]
    for tool in ("register_k8s_cluster", "register_eks_cluster"):
        error = await call_error(client, tool, kubeconfig=evil)
        assert "refused" in error and "'sh'" in error and "allowlist" in error
    error = await call_error(client, "register_k8s_cluster", kubeconfig=aws_s3)
    assert "refused" in error and "may only mint a token" in error
    error = await call_error(client, "register_k8s_cluster", kubeconfig=token_file)
    assert "refused" in error and "tokenFile" in error
    assert (await call_ok(client, "list_k8s_clusters"))["clusters"] == before
    assert not (tmp_path / "ran").exists()


async def test_allow_exec_lets_the_operator_trust_another_plugin(
    lab: EKSLab, cluster: LabCluster, tmp_path: Path
) -> None:
    token = lab.static_token(cluster.name)
    credential = (
        '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",'
        f'"status":{{"token":"{token}"}}}}'
    )
    plugin = lab.kubeconfig(
        cluster.name, exec_command="sh", exec_args=["-c", f"echo '{credential}'"], env=None
    )
    # its token comes from this host, so the operator also allows the server it may go to, with
    # the CA that server must prove itself with (the kubeconfig's own CA is not used for it)
    ca = tmp_path / "cluster-ca.pem"
    ca.write_text(cluster.ca_pem)
    async with stdio_client(lab, "--allow-exec", "sh", "--allow-server", f"{cluster.server}={ca}") as client:
        registered = await call_ok(client, "register_k8s_cluster", kubeconfig=plugin, cluster_id="viash")
        assert registered["registered"]["auth"] == "exec"
        pods = await call_ok(client, "list_k8s_pod", namespace="demo", cluster="viash")
        assert pods["count"] == 3
        assert_no_secrets(str(registered) + str(pods), lab)


async def test_read_only_server_serves_preloaded_clusters_and_refuses_writes(
    lab: EKSLab, cluster: LabCluster, tmp_path: Path
) -> None:
    other = await lab.create_cluster(f"{cluster.name}-b")
    folder = tmp_path / "kubeconfigs"
    folder.mkdir()
    lab.write_kubeconfig(folder / "alpha.yaml", cluster.name)  # aws eks get-token: trusted, preloaded
    lab.write_kubeconfig(folder / "beta.yaml", other.name, static_token=True)
    single = lab.write_kubeconfig(tmp_path / "single", other.name, static_token=True, context="solo")
    args = ("--read-only", "--kubeconfig-dir", str(folder), "--kubeconfig", str(single))
    async with stdio_client(lab, *args) as client:
        clusters = (await call_ok(client, "list_k8s_clusters"))["clusters"]
        assert [(c["id"], c["is_eks"]) for c in clusters] == [
            ("solo", False),
            ("alpha", True),
            ("beta", False),
        ]
        assert "pass cluster=<id>" in await call_error(client, "list_k8s_pod", namespace="demo")
        assert (await call_ok(client, "list_k8s_pod", namespace="demo", cluster="beta"))["count"] == 3

        writes: dict[str, dict[str, Any]] = {
            "delete_k8s_resource": {"kind": "pod", "name": "web-0", "namespace": "demo"},
            "apply_k8s_yaml": {"yaml_text": CONFIG},
            "scale_k8s_deployment": {"name": "web", "namespace": "demo", "replicas": 0},
            "cordon_k8s_node": {"name": "lab-node-1"},
            "patch_k8s_resource": {"kind": "deploy", "name": "web", "namespace": "demo", "patch": {}},
        }
        for tool, arguments in writes.items():
            error = await call_error(client, tool, cluster="alpha", **arguments)
            assert "read-only" in error, tool
        pods = await call_ok(client, "list_k8s_pod", namespace="demo", cluster="alpha")
        assert "web-0" in {p["name"] for p in pods["items"]}
        assert_no_secrets(str(clusters), lab)

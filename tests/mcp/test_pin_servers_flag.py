"""``kom-async mcp --pin-servers``: an agent's kubeconfig, whatever credentials it carries, may
only name an ``--allow-server`` server or an EKS endpoint DescribeCluster confirms, so it cannot
make this host reach an internal https service (a TLS listener on 127.0.0.1 stands in for it and
counts connections). Without the flag, link-local / metadata servers are still refused."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import trustme
from attacker import Attacker, hostile_kubeconfig
from mcp import Client
from mcp_helpers import HTTPServer, call_error, call_ok, client_over, held

from kom_async.lab import EKSLab, LabCluster
from kom_async.mcp.server import UNPINNED_NOTE, build_parser

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "agent-secret-" + secrets.token_hex(12)


def _own_credentials() -> dict[str, dict[str, Any]]:
    cert = trustme.CA(organization_name="agent").issue_cert("agent-user")
    return {
        "static-token": {"token": SECRET},
        "client-cert": {
            "client-certificate-data": base64.b64encode(cert.cert_chain_pems[0].bytes()).decode(),
            "client-key-data": base64.b64encode(cert.private_key_pem.bytes()).decode(),
        },
        "basic-auth": {"username": "agent", "password": SECRET},
        "no-auth": {},
    }


OWN_CREDENTIALS = _own_credentials()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def listed(lab: EKSLab) -> LabCluster:
    """The lab cluster the operator lists with --allow-server."""
    return await lab.create_cluster("pinned-listed")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["stdio", "http"])
async def pinned(
    request: pytest.FixtureRequest, lab: EKSLab, listed: LabCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Client]:
    """A server run with --pin-servers --allow-server <listed>, per transport."""
    args = ("--pin-servers", "--allow-server", listed.server, "--kubeconfig-dir", str(tmp_path_factory.mktemp("k")))
    async for c in held(lambda: client_over(request.param, lab, *args)):
        yield c


async def refused(client: Client, config: str, cluster_id: str, *needles: str) -> str:
    """register_k8s_cluster refuses ``config``; the id it asked for does not exist afterwards."""
    error = await call_error(client, "register_k8s_cluster", kubeconfig=config, cluster_id=cluster_id)
    assert "refused" in error, error
    for needle in needles:
        assert needle in error, error
    assert SECRET not in error
    # had it registered, this would be the request that reaches the listener
    assert cluster_id in await call_error(client, "list_k8s_pod", namespace="demo", cluster=cluster_id)
    return error


@pytest.mark.parametrize("kind", sorted(OWN_CREDENTIALS))
async def test_pinned_an_agents_own_credentials_cannot_reach_an_unlisted_https_service(
    pinned: Client, kind: str
) -> None:
    async with Attacker.listening(tls=True) as evil:
        config = hostile_kubeconfig(evil.url, OWN_CREDENTIALS[kind], evil.ca_data, name="agent")
        error = await refused(pinned, config, f"internal-{kind}", "pin_servers", "--allow-server")
        assert evil.url in error
        evil.assert_received_nothing(SECRET)


async def test_pinned_the_listed_server_registers_and_answers(lab: EKSLab, listed: LabCluster, pinned: Client) -> None:
    config = lab.kubeconfig(listed.name, static_token=True)
    await call_ok(pinned, "register_k8s_cluster", kubeconfig=config, cluster_id="listed", replace=True)
    assert (await call_ok(pinned, "list_k8s_pod", namespace="demo", cluster="listed"))["count"] == 3


async def test_pinned_an_unlisted_lab_server_is_refused(lab: EKSLab, cluster: LabCluster, pinned: Client) -> None:
    await refused(pinned, lab.kubeconfig(cluster.name, static_token=True), f"unlisted-{cluster.name}", "pin_servers")


async def test_pinned_an_eks_endpoint_describe_cluster_confirms_registers_and_answers(
    lab: EKSLab, cluster: LabCluster, pinned: Client
) -> None:
    text = lab.kubeconfig(cluster.name, env={"AWS_REGION": cluster.region})  # the server has the AWS setup
    cid = f"eks-{cluster.name}"
    registered = await call_ok(pinned, "register_eks_cluster", kubeconfig=text, cluster_id=cid)
    assert registered["registered"]["is_eks"] is True
    assert (await call_ok(pinned, "list_k8s_pod", namespace="demo", cluster=cid))["count"] == 3


async def test_unpinned_metadata_servers_are_refused_and_allow_server_alone_prints_a_note(
    lab: EKSLab, listed: LabCluster
) -> None:
    async with HTTPServer.run(lab, "--allow-server", listed.server) as server:
        async with server.client(None) as client:
            for n, host in enumerate(("169.254.169.254", "[fd00:ec2::254]", "[fe80::1]:6443", "2852039166")):
                config = hostile_kubeconfig(f"https://{host}", {"token": SECRET}, name="agent")
                await refused(client, config, f"metadata-{n}", "link-local / cloud metadata")
            # the default mode stays open to other https servers (the lab is on 127.0.0.1)
            config = lab.kubeconfig(listed.name, static_token=True)
            await call_ok(client, "register_k8s_cluster", kubeconfig=config, cluster_id="open")
        assert UNPINNED_NOTE in server.log.read_text()


async def test_help_documents_pin_servers_and_pinned_runs_print_no_note(lab: EKSLab, listed: LabCluster) -> None:
    text = " ".join(build_parser().format_help().split())
    assert "--pin-servers" in text and "DescribeCluster confirms" in text
    async with HTTPServer.run(lab, "--pin-servers", "--allow-server", listed.server) as server:
        assert UNPINNED_NOTE not in server.log.read_text()

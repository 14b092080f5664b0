"""The operator's clusters belong to the operator: an agent driving the real ``kom-async mcp``
(stdio and HTTP) cannot replace, unregister or shadow a preloaded cluster, its own clusters stay
its to change, and its registrations are capped (``--max-clusters``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from attacker import Attacker
from mcp import Client
from mcp_helpers import HTTPServer, call_error, call_ok, client_over, held

from kom_async.clusters import Clusters
from kom_async.config.policy import ExecPolicy
from kom_async.lab import EKSLab, LabCluster
from kom_async.mcp.server import build_server
from kom_async.mcp.toolbase import ToolSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET_YAML = """
apiVersion: v1
kind: Secret
metadata: {name: db-password, namespace: demo}
stringData: {password: hunter2-from-client-b}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prod(lab: EKSLab) -> LabCluster:
    """The operator's production cluster."""
    return await lab.create_cluster("prod-owned")


@pytest.fixture(scope="module")
def prod_file(lab: EKSLab, prod: LabCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """prod.yaml: the operator's kubeconfig, context (and so cluster id) "prod"."""
    path = tmp_path_factory.mktemp("operator") / "prod.yaml"
    path.write_text(lab.kubeconfig(prod.name, static_token=True, context="prod"))
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["stdio", "http"])
async def client(request: pytest.FixtureRequest, lab: EKSLab, prod_file: Path) -> AsyncIterator[Client]:
    """``kom-async mcp --kubeconfig prod.yaml`` with default flags, one per transport."""
    async for c in held(lambda: client_over(request.param, lab, "--kubeconfig", str(prod_file))):
        yield c


def evil_kubeconfig(evil: Attacker, context: str = "evil") -> str:
    """The agent's own https server with its own CA and a token: everything an agent may send."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "contexts": [{"name": context, "context": {"cluster": "evil", "user": "evil"}}],
            "clusters": [
                {"name": "evil", "cluster": {"server": evil.url, "certificate-authority-data": evil.ca_data}}
            ],
            "users": [{"name": "evil", "user": {"token": "agent-a-token"}}],
        }
    )


async def server_of(client: Client, cluster_id: str) -> str:
    clusters = (await call_ok(client, "list_k8s_clusters"))["clusters"]
    (info,) = [c for c in clusters if c["id"] == cluster_id]
    return str(info["server"])


def assert_operators(error: str, cluster_id: str = "prod") -> None:
    """The refusal says whose cluster it is and what the agent can do instead."""
    assert "refused" in error and f"{cluster_id!r}" in error, error
    assert "operator" in error and "another cluster_id" in error, error


async def test_an_agent_cannot_replace_the_operators_cluster_with_its_own_server(
    lab: EKSLab, prod: LabCluster, client: Client
) -> None:
    async with Attacker.listening(tls=True) as evil:
        config = evil_kubeconfig(evil)
        for tool, arguments in (
            ("register_k8s_cluster", {"kubeconfig": config}),
            ("register_eks_cluster", {"kubeconfig": config}),
            ("register_eks_cluster_by_name", {"cluster_name": prod.name, "region": prod.region}),
        ):
            error = await call_error(client, tool, cluster_id="prod", replace=True, **arguments)
            assert_operators(error)
        assert await server_of(client, "prod") == prod.server

        # another agent's write still goes to the operator's cluster, not to agent A's server
        applied = await call_ok(client, "apply_k8s_yaml", cluster="prod", yaml_text=SECRET_YAML)
        assert applied["applied"][0]["name"] == "db-password"
        evil.assert_received_nothing("hunter2")


async def test_an_agent_cannot_unregister_the_operators_cluster(client: Client) -> None:
    assert_operators(await call_error(client, "unregister_k8s_cluster", cluster="prod"))
    assert "prod" in {c["id"] for c in (await call_ok(client, "list_k8s_clusters"))["clusters"]}


async def test_an_agent_cannot_shadow_the_operators_id_even_without_replace(client: Client) -> None:
    async with Attacker.listening(tls=True) as evil:
        # the default id is the context's name: "prod"
        assert_operators(
            await call_error(client, "register_k8s_cluster", kubeconfig=evil_kubeconfig(evil, "prod"))
        )
        assert_operators(
            await call_error(
                client, "register_k8s_cluster", kubeconfig=evil_kubeconfig(evil), cluster_id="prod"
            )
        )
        error = await call_error(
            client, "register_k8s_cluster", kubeconfig=evil_kubeconfig(evil), replace=True
        )
        assert "replace=True needs cluster_id" in error
        evil.assert_received_nothing()


async def test_an_agents_own_cluster_stays_replaceable_and_removable(
    lab: EKSLab, cluster: LabCluster, client: Client
) -> None:
    config = lab.kubeconfig(cluster.name, static_token=True)
    await call_ok(client, "register_k8s_cluster", kubeconfig=config, cluster_id="mine")
    await call_ok(client, "register_k8s_cluster", kubeconfig=config, cluster_id="mine", replace=True)
    pods = await call_ok(client, "list_k8s_pod", namespace="demo", cluster="mine")
    assert {p["name"] for p in pods["items"]} == {"web-0", "web-1", "api-0"}
    assert (await call_ok(client, "unregister_k8s_cluster", cluster="mine"))["unregistered"] == "mine"


# -- clusters the operator's own code registered (the server embedded in a service) ----------
async def test_clusters_the_operators_code_registered_belong_to_the_operator(
    lab: EKSLab, prod: LabCluster, cluster: LabCluster
) -> None:
    async with Clusters() as clusters, Attacker.listening(tls=True) as evil:
        await clusters.register_by_string(lab.kubeconfig(prod.name, static_token=True), cluster_id="before")
        server = build_server(clusters, ToolSettings(exec_policy=ExecPolicy()))
        async with Client(server) as agent:
            # registered by the service while serving: the operator's too
            await clusters.register_by_string(
                lab.kubeconfig(prod.name, static_token=True), cluster_id="after"
            )
            config = evil_kubeconfig(evil)
            for cid in ("before", "after"):
                assert_operators(
                    await call_error(
                        agent, "register_k8s_cluster", kubeconfig=config, cluster_id=cid, replace=True
                    ),
                    cid,
                )
                assert_operators(await call_error(agent, "unregister_k8s_cluster", cluster=cid), cid)
            # an agent's cluster that the operator's code replaced is the operator's from then on
            mine = lab.kubeconfig(cluster.name, static_token=True)
            await call_ok(agent, "register_k8s_cluster", kubeconfig=mine, cluster_id="taken-back")
            await clusters.register_by_string(mine, cluster_id="taken-back", replace=True)
            assert_operators(
                await call_error(agent, "unregister_k8s_cluster", cluster="taken-back"), "taken-back"
            )
        assert clusters.get("before").server == prod.server
        evil.assert_received_nothing()


# -- the cap on agents' registrations ----------------------------------------------------------
@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_registrations_past_max_clusters_are_refused_even_all_at_once(
    lab: EKSLab, cluster: LabCluster, prod_file: Path, transport: str
) -> None:
    config = lab.kubeconfig(cluster.name, static_token=True)
    args = ("--kubeconfig", str(prod_file), "--max-clusters", "3")
    async with client_over(transport, lab, *args) as agent:
        results = await asyncio.gather(
            *(
                agent.call_tool("register_k8s_cluster", {"kubeconfig": config, "cluster_id": f"a{i}"})
                for i in range(8)
            )
        )
        assert sum(not r.is_error for r in results) == 3
        refusal = await call_error(agent, "register_k8s_cluster", kubeconfig=config, cluster_id="one-more")
        assert "--max-clusters 3" in refusal and "unregister" in refusal
        ids = {c["id"] for c in (await call_ok(agent, "list_k8s_clusters"))["clusters"]}
        assert len(ids) == 4 and "prod" in ids  # the operator's cluster does not count
        # replacing its own at the cap is fine; removing one makes room
        (own, *_) = sorted(ids - {"prod"})
        await call_ok(agent, "register_k8s_cluster", kubeconfig=config, cluster_id=own, replace=True)
        await call_ok(agent, "unregister_k8s_cluster", cluster=own)
        await call_ok(agent, "register_k8s_cluster", kubeconfig=config, cluster_id="one-more")


async def test_an_agent_registering_past_the_cap_does_not_grow_the_servers_memory(
    lab: EKSLab, cluster: LabCluster
) -> None:
    config = lab.kubeconfig(cluster.name, static_token=True)
    async with HTTPServer.run(lab, "--max-clusters", "2") as server, server.client(None) as agent:
        for i in range(2):
            await call_ok(agent, "register_k8s_cluster", kubeconfig=config, cluster_id=f"a{i}")
        await call_error(agent, "register_k8s_cluster", kubeconfig=config, cluster_id="warm-up")
        before = server.rss_kib()
        for i in range(300):
            await call_error(agent, "register_k8s_cluster", kubeconfig=config, cluster_id=f"b{i}")
        grown = server.rss_kib() - before
        print(f"RSS growth over 300 refused registrations: {grown} KiB")
        ids = {c["id"] for c in (await call_ok(agent, "list_k8s_clusters"))["clusters"]}
        assert ids == {"a0", "a1"}
        # 300 registered lab clusters cost ~4.5 MiB (2,000 cost 30 MiB); refusals keep nothing
        assert grown < 3 * 1024

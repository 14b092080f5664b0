"""``discover_eks_clusters``: off unless the operator starts the server with discovery regions
(and roles); an agent may narrow a run but never name another region; what it finds is
registered for the agents' other tools."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from mcp import Client
from mcp_helpers import call_error, call_ok, held, stdio_client

from kom_async.lab import EKSLab, LabAccount

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def account(lab: EKSLab) -> LabAccount:
    account = await lab.create_account()
    await lab.create_cluster("fleet-a", "us-east-1", account=account)
    await lab.create_cluster("fleet-b", "eu-west-1", account=account, seed=False)
    await lab.create_cluster("hidden", "ap-south-1", account=account, seed=False)
    return account


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(lab: EKSLab, account: LabAccount) -> AsyncIterator[Client]:
    args = ["--discover-region", "us-east-1", "--discover-region", "eu-west-1"]
    async for c in held(lambda: stdio_client(lab, *args, "--discover-role-arn", account.role_arn)):
        yield c


async def test_discovery_registers_the_allowed_accounts_clusters_for_the_other_tools(
    client: Client, account: LabAccount
) -> None:
    result = await call_ok(client, "discover_eks_clusters")
    ids = [f"{account.account_id}-us-east-1-fleet-a", f"{account.account_id}-eu-west-1-fleet-b"]
    assert sorted(result["registered"]) == sorted(ids) and result["failures"] == []
    assert "hidden" not in str(result)  # ap-south-1 was not allowed by the operator
    pods = await call_ok(client, "list_k8s_resource", cluster=ids[0], kind="pods", namespace="demo")
    assert pods["items"]
    again = await call_ok(client, "discover_eks_clusters", regions=["eu-west-1"])
    assert again["registered"] == [] and again["kept"] == [ids[1]]


async def test_an_agent_cannot_widen_the_regions(client: Client) -> None:
    error = await call_error(client, "discover_eks_clusters", regions=["ap-south-1"])
    assert "'ap-south-1' is not one this server may discover in" in error and "us-east-1" in error


async def test_without_discovery_flags_the_tool_is_not_offered(lab: EKSLab) -> None:
    async with stdio_client(lab) as plain:
        names = {t.name for t in (await plain.list_tools()).tools}
    assert "discover_eks_clusters" not in names and "list_k8s_clusters" in names

"""The plugin's module-scoped ``eks_lab_module``: one lab for a whole module, on its loop."""

from __future__ import annotations

import aiohttp
import pytest
import pytest_asyncio
from lab_helpers import LabAPI

from kom_async.lab import EKSLab, LabCluster, LabError

pytestmark = pytest.mark.asyncio(loop_scope="module")

NASTY_AUTH_HEADERS = [
    "Bearer",
    "Bearer ",
    "Basic dXNlcjpwYXNz",
    "bearer k8s-aws-v1.",
    "Bearer k8s-aws-v1.=",
    "Bearer k8s-aws-v1." + "A" * 5000,
    "Bearer k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9uPUdldENhbGxlcklkZW50aXR5",
    "Bearer k8s-aws-v1.%%%",
    "Bearer \u00e9t\u00e9",
    "Token abc",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(eks_lab_module: EKSLab) -> LabCluster:
    """A cluster created once, on the module's lab, for every test that asks for it."""
    return await eks_lab_module.create_cluster("shared", static_tokens={"team-token": "team"})


async def test_a_cluster_made_by_a_module_fixture_serves_its_static_tokens(
    eks_lab_module: EKSLab, shared: LabCluster
) -> None:
    assert eks_lab_module.cluster("shared") == shared
    before = eks_lab_module.stats("shared").identities["static:team"]
    async with aiohttp.ClientSession() as session:
        api = LabAPI(session, shared, "team-token")
        status, body = await api.get("/api/v1/namespaces/demo/pods")
        assert status == 200 and len(body["items"]) == 3
    assert eks_lab_module.stats("shared").identities["static:team"] == before + 1


async def test_every_test_of_the_module_gets_the_same_lab(eks_lab_module: EKSLab, shared: LabCluster) -> None:
    # the module fixture runs once: a second create_cluster("shared") would have raised
    assert [c.name for c in eks_lab_module.clusters] == ["lab", "shared"]
    with pytest.raises(LabError, match="already exists"):
        await eks_lab_module.create_cluster("shared")


@pytest.mark.parametrize("header", NASTY_AUTH_HEADERS)
async def test_malformed_authorization_headers_get_401_never_500(eks_lab_module: EKSLab, header: str) -> None:
    cluster = eks_lab_module.cluster("lab")
    async with aiohttp.ClientSession() as session:
        api = LabAPI(session, cluster, "")
        async with session.get(
            cluster.server + "/api/v1/pods",
            headers={"Authorization": header.encode("utf-8").decode("latin-1")},
            ssl=api.ssl,
        ) as resp:
            assert resp.status == 401
            assert (await resp.json())["kind"] == "Status"

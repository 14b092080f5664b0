"""The plugin's module-scoped ``eks_lab_module``: one lab for a whole module, on its loop."""

from __future__ import annotations

import aiohttp
import pytest
from lab_helpers import LabAPI

from kom_async.lab import EKSLab

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


async def test_the_first_test_creates_a_cluster(eks_lab_module: EKSLab) -> None:
    await eks_lab_module.create_cluster("shared", static_tokens={"team-token": "team"})


async def test_later_tests_in_the_module_see_it_and_its_static_tokens(eks_lab_module: EKSLab) -> None:
    cluster = eks_lab_module.cluster("shared")
    async with aiohttp.ClientSession() as session:
        api = LabAPI(session, cluster, "team-token")
        status, body = await api.get("/api/v1/namespaces/demo/pods")
        assert status == 200 and len(body["items"]) == 3
        assert eks_lab_module.stats("shared").identities["static:team"] == 1


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

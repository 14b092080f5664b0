"""The chain on an EKS-authenticated cluster from the registry: tokens never show up here."""

from __future__ import annotations

import asyncio

import pytest

from kom_async import Clusters
from kom_async.lab import EKSLab

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_chain_works_on_an_eks_cluster_registered_from_its_kubeconfig(lab: EKSLab) -> None:
    await lab.create_cluster("eks-chain")
    async with Clusters() as clusters:
        kubectl = await clusters.register_eks_by_string(lab.kubeconfig("eks-chain"), cluster_id="eks-chain")
        assert kubectl.cluster_id == "eks-chain"
        cms = kubectl.resource("cm").namespace("demo")
        async with cms.labels("eks=1").watch(send_initial=False) as events:
            await cms.create({"metadata": {"name": "via-eks", "labels": {"eks": "1"}}})
            kind, obj = await asyncio.wait_for(anext(events), 5)
            assert (kind, obj["metadata"]["name"]) == ("ADDED", "via-eks")
        await kubectl.deployment("web", "demo").scale(4)
        assert (await kubectl.resource("deploy").namespace("demo").name("web").get())["spec"]["replicas"] == 4
        assert len(await kubectl.pod("web-0", "demo").logs(tail_lines=1)) > 0
    stats = lab.stats("eks-chain")
    assert stats.tokens_accepted > 0 and stats.static_tokens_accepted == 0 and stats.unauthorized == 0

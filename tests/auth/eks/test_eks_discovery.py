"""Listing an account's clusters in one region (``auth/eks/discovery``) against the lab's AWS:
every page is followed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from kom_async import RetryPolicy
from kom_async.auth.eks.aws import AWSClientPool
from kom_async.auth.eks.discovery import PAGE_SIZE, RegionScan, Source, list_cluster_names
from kom_async.lab import EKSLab


@pytest_asyncio.fixture
async def lab() -> AsyncIterator[EKSLab]:
    async with EKSLab() as lab:
        yield lab


async def test_listing_follows_every_page(lab: EKSLab) -> None:
    for i in range(5):
        await lab.create_cluster(f"p{i}", seed=False)
    async with AWSClientPool() as pool:
        ctx = await pool.context(region=lab.region, env=lab.aws_env)
        client = await ctx.eks_client(retrying=False)
        scan = RegionScan(Source(), lab.region)
        names = await list_cluster_names(client, RetryPolicy(attempts=1), scan, page_size=2)
    assert sorted(names) == [f"p{i}" for i in range(5)] and scan.list_pages == 3
    assert PAGE_SIZE == 100

"""Fixtures for the lab's own tests (the ``eks_lab`` fixture comes from the lab's plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio
from lab_helpers import LabAPI

from kom_async.lab import EKSLab


@pytest_asyncio.fixture
async def api(eks_lab: EKSLab) -> AsyncIterator[LabAPI]:
    """A client for the plugin lab's cluster "lab", authenticated with its static token."""
    cluster = eks_lab.cluster("lab")
    async with aiohttp.ClientSession() as session:
        yield LabAPI(session, cluster, eks_lab.static_token("lab"))

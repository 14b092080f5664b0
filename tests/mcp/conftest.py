"""Fixtures for the MCP server tests: one offline lab per module, a fresh cluster per test."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator

import pytest_asyncio

from kom_async.lab import EKSLab, LabCluster

_names = itertools.count(1)

# The MCP SDK's own HTTP *client* (the test's side, not our server) logs its request
# headers at DEBUG, bearer key included; keep it out of the suite-wide leak check.
logging.getLogger("mcp.client").setLevel(logging.INFO)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lab() -> AsyncIterator[EKSLab]:
    """One lab per test module (moto AWS + HTTPS Kubernetes API on 127.0.0.1)."""
    async with EKSLab() as the_lab:
        yield the_lab


@pytest_asyncio.fixture(loop_scope="module")
async def cluster(lab: EKSLab) -> LabCluster:
    """A fresh lab EKS cluster, seeded with namespace demo (pods web-0, web-1, api-0, deploy web)."""
    return await lab.create_cluster(f"mcp{next(_names)}")

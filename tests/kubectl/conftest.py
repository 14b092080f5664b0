"""Fixtures for the fluent API tests: a request-counting ApiClient, and the lab when present."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubectl_helpers import CountingApiClient
from kubernetes_asyncio.client import Configuration

from kom_async.kubectl import Kubectl


@pytest.fixture
async def offline_kubectl() -> AsyncIterator[tuple[Kubectl, CountingApiClient]]:
    """A Kubectl whose server does not exist: any request it sends would fail."""
    config = Configuration(host="https://127.0.0.1:9")
    config.api_key = {"BearerToken": "unused"}
    config.api_key_prefix = {"BearerToken": "Bearer"}
    client = CountingApiClient(config)
    try:
        yield Kubectl(client, cluster_id="offline"), client
    finally:
        await client.close()

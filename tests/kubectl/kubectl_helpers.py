"""Helpers for the fluent API tests."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client import ApiClient


class CountingApiClient(ApiClient):  # type: ignore[misc]
    """An ApiClient that records every request it sends (method and URL)."""

    def __init__(self, configuration: Any) -> None:
        super().__init__(configuration)
        self.requests: list[tuple[str, str]] = []

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self.requests.append((method, url))
        return await super().request(method, url, *args, **kwargs)

    def count(self, needle: str = "") -> int:
        """Requests whose URL contains ``needle``."""
        return sum(1 for _, url in self.requests if needle in url)

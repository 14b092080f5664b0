"""One registered cluster: its id, API client, fluent API, token provider and refresh task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kom_async.auth.provider import AuthStats, TokenProvider

if TYPE_CHECKING:
    from kom_async.auth.apiclient import KomApiClient
    from kom_async.eks import EKSAuthConfig
    from kom_async.kubeconfig import AuthKind
    from kom_async.kubectl import Kubectl

__all__ = ["Cluster"]

log = logging.getLogger("kom_async")


@dataclass(eq=False, repr=False)
class Cluster:
    """A cluster in the registry. Built by ``Clusters.register_*``; closed by ``unregister``."""

    id: str
    server: str
    auth_kind: AuthKind
    kubectl: Kubectl
    api_client: KomApiClient
    token_provider: TokenProvider | None = None
    eks: EKSAuthConfig | None = None
    refresh_task: asyncio.Task[None] | None = None
    context: str | None = None

    def __repr__(self) -> str:
        return (
            f"Cluster(id={self.id!r}, server={self.server!r}, auth={self.auth_kind!r}, is_eks={self.is_eks})"
        )

    @property
    def is_eks(self) -> bool:
        """True when the cluster authenticates with EKS tokens (native or exec)."""
        return self.eks is not None

    @property
    def auth_stats(self) -> AuthStats | None:
        """Token fetches, refresh failures, 401 recoveries and the current expiry."""
        return self.token_provider.stats if self.token_provider else None

    async def aclose(self) -> None:
        """Cancel and await the refresh task, then close the provider and the API client."""
        task, self.refresh_task = self.refresh_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            if self.token_provider is not None:
                await self.token_provider.aclose()
        finally:
            await self.api_client.close()
        log.info("cluster %s closed", self.id, extra={"cluster": self.id})

"""``Cluster``: one registered cluster's live connection (its ``Kubectl``, API client, token
provider and refresh task), as ``Clusters.get`` returns it and ``unregister`` closes it.

Made by the connect step (``_connect.Connector.connect``); held by the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import anyio

from kom_async.auth.provider import AuthStats, TokenProvider
from kom_async.config.eks import EKSAuthConfig
from kom_async.config.kubeconfig import AuthKind
from kom_async.config.urls import redact_url
from kom_async.kubectl import Kubectl
from kom_async.transport.apiclient import KomApiClient

__all__ = ["Cluster"]

log = logging.getLogger("kom_async")


@dataclass(eq=False, repr=False)
class Cluster:
    """A connected cluster, as the registry holds it: made by ``Clusters.register_*``, closed
    by ``unregister`` (or by closing the registry).

    ``server`` is the API server URL as shown to people: without ``user:password@``.
    """

    id: str
    server: str
    auth_kind: AuthKind
    kubectl: Kubectl
    api_client: KomApiClient
    token_provider: TokenProvider | None = None
    eks: EKSAuthConfig | None = None
    refresh_task: asyncio.Task[None] | None = None
    context: str | None = None
    #: the kubeconfig context's namespace, or the pod's own namespace in-cluster (None: unset)
    namespace: str | None = None

    def __repr__(self) -> str:
        return (
            f"Cluster(id={self.id!r}, server={redact_url(self.server)!r}, auth={self.auth_kind!r}, "
            f"is_eks={self.is_eks})"
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
        # shielded: a caller's cancel scope (a timeout around unregister) must not leave a
        # task running or a session open half-way through closing
        with anyio.CancelScope(shield=True):
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

"""The async Kubernetes clients a user could pick, each driven the way its documentation shows.

Every client reads the same kind of kubeconfig file (an exec user or a static token) and
lists the pods of one namespace with its own idiomatic call. Nothing here re-implements a
client's token handling: each one renews (or does not) exactly as the library does.

* kom-async: ``Clusters.register_by_path``; background refresh before expiry, single flight.
* kubernetes_asyncio ``load_kube_config``: runs the plugin once at load; never renews.
* kubernetes_asyncio + ``refresh_token(loader, conf, interval)``: the library's own loop.
* kr8s: ``kr8s.asyncio.api(kubeconfig=...)``; re-runs the plugin after a 401 (up to 3 times).
* lightkube: ``AsyncClient(KubeConfig.from_file(...))``; re-runs the plugin after a 401, once.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

NAMESPACE = "default"
K8S_REFRESH_INTERVAL = 60.0  # kubernetes_asyncio.config.refresh_token's default interval
K8S_EXPIRY_SKEW = 300.0  # kubernetes_asyncio's EXPIRY_SKEW_PREVENTION_DELAY (5 minutes)

__all__ = ["PEERS", "Peer", "scaled_k8s_skew"]


class Peer:
    """One client: ``await start(path)``, then ``await list_pods()`` (raises on failure)."""

    label = ""
    renews = ""  # how the library renews an expiring exec token, for the results table

    async def start(self, kubeconfig: str) -> None:
        raise NotImplementedError

    async def list_pods(self) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release sessions and tasks."""


class KomAsync(Peer):
    label = "kom-async"
    renews = "background refresh before expiry, one fetch for all callers"

    async def start(self, kubeconfig: str) -> None:
        from kom_async import Clusters

        self.clusters = Clusters()
        self.kubectl = await self.clusters.register_by_path(kubeconfig, cluster_id="bench")

    async def list_pods(self) -> Any:
        return await self.kubectl.resource("Pod").namespace(NAMESPACE).list()

    async def aclose(self) -> None:
        await self.clusters.aclose()


class K8sLoad(Peer):
    label = "kubernetes_asyncio load_kube_config"
    renews = "never (plugin runs once, at load)"

    async def start(self, kubeconfig: str) -> None:
        from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api
        from kubernetes_asyncio.config import load_kube_config

        self.conf = Configuration()
        self.loader = await load_kube_config(config_file=kubeconfig, client_configuration=self.conf)
        self.client = ApiClient(self.conf)
        self.api = CoreV1Api(self.client)

    async def list_pods(self) -> Any:
        return await self.api.list_namespaced_pod(NAMESPACE)

    async def aclose(self) -> None:
        await self.client.close()


class K8sRefreshLoop(K8sLoad):
    """``refresh_token(loader, conf, interval)`` in a task, as the library documents it."""

    label = "kubernetes_asyncio + refresh_token loop"
    renews = "its refresh_token loop: wakes every interval, reruns the plugin 5 min before expiry"
    interval = K8S_REFRESH_INTERVAL

    async def start(self, kubeconfig: str) -> None:
        from kubernetes_asyncio.config import refresh_token

        await super().start(kubeconfig)
        self.task = asyncio.create_task(refresh_token(self.loader, self.conf, self.interval))

    async def aclose(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await super().aclose()


class Kr8s(Peer):
    label = "kr8s"
    renews = "after a 401/403: re-runs the plugin per failed request (lock), new session, retries"

    async def start(self, kubeconfig: str) -> None:
        import kr8s.asyncio

        self.api = await kr8s.asyncio.api(kubeconfig=kubeconfig)

    async def list_pods(self) -> Any:
        return [pod async for pod in self.api.get("pods", namespace=NAMESPACE)]

    async def aclose(self) -> None:
        session = getattr(self.api, "_session", None)
        if session is not None:
            await session.aclose()


class Lightkube(Peer):
    label = "lightkube"
    renews = "after a 401: re-runs the plugin in that request's auth flow, retries once"

    async def start(self, kubeconfig: str) -> None:
        from lightkube import AsyncClient, KubeConfig

        self.client = AsyncClient(config=KubeConfig.from_file(kubeconfig))

    async def list_pods(self) -> Any:
        from lightkube.resources.core_v1 import Pod

        return [pod async for pod in self.client.list(Pod, namespace=NAMESPACE)]

    async def aclose(self) -> None:
        await self.client.close()


PEERS: dict[str, type[Peer]] = {
    "kom": KomAsync,
    "k8s-load": K8sLoad,
    "k8s-loop": K8sRefreshLoop,
    "kr8s": Kr8s,
    "lightkube": Lightkube,
}


@contextlib.contextmanager
def scaled_k8s_skew(scale: float) -> Any:
    """Compress kubernetes_asyncio's 5-minute expiry skew by ``scale`` (as token lifetimes are)."""
    from kubernetes_asyncio.config import kube_config

    saved = kube_config.EXPIRY_SKEW_PREVENTION_DELAY
    kube_config.EXPIRY_SKEW_PREVENTION_DELAY = timedelta(seconds=K8S_EXPIRY_SKEW * scale)
    try:
        yield
    finally:
        kube_config.EXPIRY_SKEW_PREVENTION_DELAY = saved

"""Scenario 5: one simulated hour of steady requests to lab clusters whose tokens live 15 min.

Time is injected: the lab judges token age by a virtual clock, kom-async mints and
refreshes on it, and the hour passes in seconds. Clients, one lab cluster each:

* kom-async (``Clusters(clock=...)``, ``register_eks``, native tokens, background refresh);
* kubernetes_asyncio ``load_kube_config`` with the ``aws eks get-token`` exec user — the real
  library and the real CLI (the token is signed at real time, which the virtual clock
  starts at); it never refreshes unless the caller runs a loop;
* kubernetes_asyncio plus its ``refresh_token(loader, interval=60)`` loop — simulated on the
  virtual clock: the loop and its 5-minute expiry skew are mirrored, and each plugin run is
  replaced by a token minted at virtual time (the CLI can only sign at real time);
* a reactive client that refreshes only after a 401 and retries once — simulated the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import yaml
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import load_kube_config_from_dict

from benchmarks.common import BenchConfig, CountingClock, ScenarioResult, settle
from kom_async import Clusters
from kom_async.auth.aws import AWSClientPool
from kom_async.auth.eks_native import NativeEKSTokenSource
from kom_async.eks import EKSAuthConfig
from kom_async.lab import EKSLab

NAME = "long_run"
HOUR = 3600.0
NAMESPACE = "default"
K8S_REFRESH_INTERVAL = 60.0  # kubernetes_asyncio.config.refresh_token's default
K8S_EXPIRY_SKEW = timedelta(minutes=5)  # kubernetes_asyncio's EXPIRY_SKEW_PREVENTION_DELAY


class Client:
    """One client under test: ``call()`` makes one list request; counts what the caller saw."""

    label = ""
    simulated = False

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self.requests = 0
        self.failed = 0
        self.mints = 0
        self.wakeups = 0
        self.api: CoreV1Api | None = None

    async def call(self) -> None:
        """One request; an exception that reaches the caller is a failed request."""
        self.requests += 1
        try:
            await self.request()
        except Exception:
            self.failed += 1

    async def request(self) -> None:
        assert self.api is not None
        await self.api.list_namespaced_pod(NAMESPACE)

    async def aclose(self) -> None:
        """Release the client's resources."""


class KomClient(Client):
    """kom-async as a user writes it: ``register_eks`` on a registry with the virtual clock."""

    label = "kom-async"

    def __init__(self, cluster: str, clusters: Clusters) -> None:
        super().__init__(cluster)
        self.clusters = clusters

    async def start(self, lab: EKSLab) -> None:
        kubectl = await self.clusters.register_eks(self.cluster, lab.region, env=lab.aws_env)
        self.api = CoreV1Api(kubectl.api_client)


class LoadKubeConfigClient(Client):
    """kubernetes_asyncio's ``load_kube_config`` exec path: one plugin run at load time."""

    label = "kubernetes_asyncio load_kube_config (exec)"

    async def start(self, lab: EKSLab) -> None:
        self.conf = Configuration()
        self.loader = await load_kube_config_from_dict(
            yaml.safe_load(lab.kubeconfig(self.cluster)), client_configuration=self.conf
        )
        self.mints += 1
        self.client = ApiClient(self.conf)
        self.api = CoreV1Api(self.client)

    async def aclose(self) -> None:
        await self.client.close()


class _Minter:
    """Stands in for an ``aws eks get-token`` run at virtual time: the same token, natively."""

    def __init__(self, lab: EKSLab, cluster: str, pool: AWSClientPool, clock: CountingClock) -> None:
        config = EKSAuthConfig(cluster, region=lab.region, env=lab.aws_env)
        self.source = NativeEKSTokenSource(config, pool=pool, clock=clock)

    async def mint(self) -> tuple[str, Any]:
        token = await self.source.fetch()
        return token.value, token.expires_at


class RefreshLoopClient(LoadKubeConfigClient):
    """``load_kube_config`` plus ``refresh_token(loader, conf, interval=60)``, on virtual time."""

    label = "kubernetes_asyncio + refresh_token loop (simulated)"
    simulated = True

    def __init__(self, cluster: str, minter: _Minter, clock: CountingClock) -> None:
        super().__init__(cluster)
        self.minter = minter
        self.clock = clock
        self.task: asyncio.Task[None] | None = None

    async def start(self, lab: EKSLab) -> None:
        await super().start(lab)
        self.task = asyncio.create_task(self._loop(), name="k8s-refresh-sim")

    async def _loop(self) -> None:
        # refresh_token(): while 1: sleep(interval); loader.load_from_exec_plugin(); set api_key
        while True:
            await self.clock.sleep(K8S_REFRESH_INTERVAL)
            self.wakeups += 1
            # load_from_exec_plugin(): rerun the plugin once expiry - 5 min has passed
            if self.loader.exec_plugin_expiry - K8S_EXPIRY_SKEW <= self.clock.now():
                value, expires = await self.minter.mint()
                self.mints += 1
                self.loader.token = f"Bearer {value}"
                self.loader.exec_plugin_expiry = expires
            self.conf.api_key["BearerToken"] = self.loader.token

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await super().aclose()


class ReactiveClient(Client):
    """Refresh only after a 401, then retry once: the usual hand-rolled alternative."""

    label = "reactive refresh-on-401 (simulated)"
    simulated = True

    def __init__(self, cluster: str, minter: _Minter) -> None:
        super().__init__(cluster)
        self.minter = minter

    async def start(self, lab: EKSLab) -> None:
        self.conf = Configuration()
        await load_kube_config_from_dict(
            yaml.safe_load(lab.kubeconfig(self.cluster, static_token="unused")),
            client_configuration=self.conf,
        )
        await self._renew()
        self.client = ApiClient(self.conf)
        self.api = CoreV1Api(self.client)

    async def _renew(self) -> None:
        value, _ = await self.minter.mint()
        self.mints += 1
        self.conf.api_key["BearerToken"] = f"Bearer {value}"

    async def request(self) -> None:
        try:
            await super().request()
        except ApiException as exc:
            if exc.status != 401:
                raise
            await self._renew()
            await super().request()

    async def aclose(self) -> None:
        await self.client.close()


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Drive every client through one virtual hour; count failed requests and 401s."""
    result = ScenarioResult(NAME, "5. Long run, simulated hour")
    step = float(cfg.pick(5, 20))
    clock = CountingClock()
    async with EKSLab(clock=clock) as lab, Clusters(clock=clock) as clusters, AWSClientPool() as pool:
        names = {"kom": "kom", "load": "k8s-load", "loop": "k8s-loop", "reactive": "reactive"}
        for name in names.values():
            await lab.create_cluster(name, seed=False)
        kom = KomClient(names["kom"], clusters)
        clients: list[Any] = [
            kom,
            LoadKubeConfigClient(names["load"]),
            RefreshLoopClient(names["loop"], _Minter(lab, names["loop"], pool, clock), clock),
            ReactiveClient(names["reactive"], _Minter(lab, names["reactive"], pool, clock)),
        ]
        try:
            for client in clients:
                await client.start(lab)
            sleepers = 2  # kom-async's refresh task and the simulated refresh_token loop
            await settle(clock, sleepers)
            clock.reset()
            elapsed = 0.0
            while elapsed < HOUR:
                for client in clients:
                    await client.call()
                clock.advance(step)
                elapsed += step
                await settle(clock, sleepers)
        finally:
            for client in clients:
                await client.aclose()
        provider = clusters.get(f"{lab.region}-{names['kom']}").token_provider
        assert provider is not None
        kom.mints = provider.stats.fetches
        kom.wakeups = sum(n for task, n in clock.wakeups.items() if task.startswith("kom-async:refresh:"))
        unauthorized = {c.label: lab.stats(c.cluster).unauthorized for c in clients}
    for client in clients:
        result.rows.append(
            {
                "client": client.label,
                "requests": client.requests,
                "failed": client.failed,
                "401 round trips": unauthorized[client.label],
                "tokens minted": client.mints,
                "refresh wake-ups/h": client.wakeups,
            }
        )
    ours = result.rows[0]
    result.metrics = {
        "virtual_seconds": HOUR,
        "request_every_virtual_seconds": step,
        "clients": {row["client"]: row for row in result.rows},
        "simulated_baselines": [c.label for c in clients if c.simulated],
    }
    result.target = "kom-async: 0 failed requests, 0 401s"
    result.target_met = ours["failed"] == 0 and ours["401 round trips"] == 0
    load = result.rows[1]
    reactive = result.rows[3]
    result.headline = (
        f"kom-async {ours['failed']} failed / {ours['401 round trips']} 401s in {ours['requests']} requests "
        f"over a virtual hour; load_kube_config exec: {load['failed']} failed; "
        f"reactive: {reactive['failed']} failed, {reactive['401 round trips']} 401 round trips"
    )
    result.notes.append(
        "the refresh_token-loop and reactive baselines are simulated on the injected clock (their "
        "logic mirrored, each plugin run replaced by a token minted at virtual time, since the "
        "aws CLI can only sign at real time); load_kube_config runs the real library and CLI"
    )
    if cfg.quick:
        result.notes.append(f"quick mode: one request every {step:.0f} virtual seconds (full: 5 s)")
    return result

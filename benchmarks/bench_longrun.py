"""Scenario 5: one virtual hour of steady requests to lab clusters whose tokens live 15 min.

Time is injected: the lab judges token age by a virtual clock, kom-async mints and
refreshes on it, and the hour passes in seconds. Clients, one lab cluster each:

* kom-async (``Clusters(clock=...)``, ``register_eks``, native tokens, background refresh);
* kubernetes_asyncio ``load_kube_config`` with the ``aws eks get-token`` exec user — the real
  library and the real CLI (the token is signed at real time, which the virtual clock
  starts at); it never refreshes unless the caller runs a loop.

Clients that keep their own clocks (kubernetes_asyncio's ``refresh_token`` loop, kr8s,
lightkube) cannot run on a virtual clock without re-implementing them; scenario 7 runs them
for real on short-lived tokens instead.
"""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api
from kubernetes_asyncio.config import load_kube_config_from_dict

from benchmarks.common import BenchConfig, CountingWakeups, ScenarioResult, set_verdict, settle
from kom_async import Clusters
from kom_async.lab import EKSLab, FakeClock

NAME = "long_run"
HOUR = 3600.0
NAMESPACE = "default"


class Client:
    """One client under test: ``call()`` makes one list request; counts what the caller saw."""

    label = ""

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


async def run(cfg: BenchConfig) -> ScenarioResult:
    """Drive every client through one virtual hour; count failed requests and 401s."""
    result = ScenarioResult(NAME, "5. Long run, virtual hour")
    step = float(cfg.pick(5, 20))
    clock = FakeClock()
    async with EKSLab(clock=clock) as lab, Clusters(clock=clock) as clusters:
        counted = CountingWakeups.installed(clusters, clock)
        names = {"kom": "kom", "load": "k8s-load"}
        for name in names.values():
            await lab.create_cluster(name, seed=False)
        kom = KomClient(names["kom"], clusters)
        clients: list[Any] = [
            kom,
            LoadKubeConfigClient(names["load"]),
        ]
        try:
            for client in clients:
                await client.start(lab)
            sleepers = 1  # kom-async's refresh task
            await settle(counted, sleepers)
            counted.reset()
            elapsed = 0.0
            while elapsed < HOUR:
                for client in clients:
                    await client.call()
                clock.advance(step)
                elapsed += step
                await settle(counted, sleepers)
        finally:
            for client in clients:
                await client.aclose()
        provider = clusters.get(f"{lab.region}-{names['kom']}").token_provider
        assert provider is not None
        kom.mints = provider.stats.fetches
        kom.wakeups = sum(n for task, n in counted.wakeups.items() if task.startswith("kom-async:refresh:"))
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
    }
    result.target = "kom-async: 0 failed requests, 0 401s"
    set_verdict(result, "met" if ours["failed"] == 0 and ours["401 round trips"] == 0 else "missed")
    result.conditions = (
        "in-process, one virtual hour (injected clock in the lab and in Clusters), real 15-min EKS "
        "tokens; peer: kubernetes_asyncio load_kube_config running the real aws CLI"
    )
    load = result.rows[1]
    result.headline = (
        f"kom-async {ours['failed']} failed / {ours['401 round trips']} 401s / {ours['tokens minted']} "
        f"tokens / {ours['refresh wake-ups/h']} refresh wake-ups in {ours['requests']} requests over a "
        f"virtual hour; kubernetes_asyncio load_kube_config (exec): {load['failed']} failed"
    )
    result.notes.append(
        "load_kube_config runs the real library and the real aws CLI; nothing is simulated. "
        "The refresh_token loop, kr8s and lightkube are measured for real in scenario 7"
    )
    if cfg.quick:
        result.notes.append(f"quick mode: one request every {step:.0f} virtual seconds (full: 5 s)")
    return result

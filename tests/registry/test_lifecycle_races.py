"""Registry lifecycle under races (issue 13, item 8), against the real lab: ``aclose()`` cancels
registrations in flight, a closed registry refuses new ones, and the AWS client pool gives back
the identities no cluster uses any more."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from kom_async import Clusters, RegistryClosed
from kom_async.lab import EKSLab


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def client_tasks() -> set[asyncio.Task[object]]:
    """Unfinished tasks of this side (the lab's request handlers in the same loop excluded)."""
    lab_side = ("aiohttp/web_", "kom_async/lab/")
    return {
        t
        for t in asyncio.all_tasks()
        if not t.done() and not any(p in t.get_coro().cr_code.co_filename for p in lab_side)  # type: ignore[union-attr]
    }


def pool_size(clusters: Clusters) -> int:
    """How many AWS identities the registry's client pool holds (a private counter, on purpose)."""
    pool = clusters._connector._aws_pool
    return 0 if pool is None else len(pool)


def slow_plugin(tmp_path: Path, started: Path) -> str:
    """An exec plugin that says it started, then hangs."""
    path = tmp_path / "slow-plugin"
    path.write_text(f"#!{sys.executable}\nimport time\nopen({str(started)!r}, 'a').write('x')\ntime.sleep(600)\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def test_aclose_cancels_registrations_in_flight_and_they_leave_nothing_behind(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    for name in ("r1", "r2", "r3"):
        await eks_lab.create_cluster(name)
    started = tmp_path / "started"
    plugin = eks_lab.kubeconfig("r3", exec_command=slow_plugin(tmp_path, started), exec_args=[], env=None)
    eks_lab.aws_fault("eks", delay=60)  # DescribeCluster hangs
    clusters = Clusters()
    tasks_before = client_tasks()
    fds = open_fds()
    by_name = [
        asyncio.create_task(clusters.register_eks(n, eks_lab.region, env=eks_lab.aws_env)) for n in ("r1", "r2")
    ]
    by_plugin = asyncio.create_task(clusters.register_by_string(plugin, cluster_id="r3", exec_timeout=600))
    while eks_lab.aws_requests()["eks"] < 2 or not started.exists():  # all three are waiting
        await asyncio.sleep(0.02)
    await clusters.aclose()
    for task in (*by_name, by_plugin):
        with pytest.raises(RegistryClosed, match="registry was closed"):
            await task
    assert len(clusters) == 0 and pool_size(clusters) == 0
    assert client_tasks() <= tasks_before  # no task left behind
    assert open_fds() <= fds  # no session, no pipe
    eks_lab.clear_aws_faults()


async def test_a_closed_registry_refuses_new_registrations_with_a_typed_error(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("late")
    clusters = Clusters()
    await clusters.aclose()
    with pytest.raises(RegistryClosed, match="closed"):
        await clusters.register_by_string(eks_lab.kubeconfig("late", static_token=True))
    with pytest.raises(RegistryClosed):
        await clusters.register_eks("late", eks_lab.region, env=eks_lab.aws_env)
    assert len(clusters) == 0


async def test_the_aws_pool_gives_back_identities_no_cluster_uses(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("pooled")
    # 40 AWS identities (10 assumed roles, 30 env variations); the issue saw 100 -> 201 contexts
    roles = [await eks_lab.create_role(f"pool-role-{i}", map_as=f"pool-{i}") for i in range(10)]
    async with Clusters() as clusters:
        fds = open_fds()
        variations = [{"role_arn": roles[i % 10], "env": {**eks_lab.aws_env, "AWS_PAGER": f"p{i}"}} for i in range(10)]
        variations += [{"env": {**eks_lab.aws_env, "AWS_PAGER": f"q{i}"}} for i in range(30)]
        for i, variation in enumerate(variations):
            k = await clusters.register_eks("pooled", eks_lab.region, cluster_id=f"v{i}", **variation)  # type: ignore[arg-type]
            assert await k.resource("namespaces").name("demo").get()
        assert pool_size(clusters) == 50  # 40 identities + the 10 bases the roles were assumed from
        for i in range(len(variations)):
            await clusters.unregister(f"v{i}")
        assert pool_size(clusters) == 0
        assert open_fds() <= fds

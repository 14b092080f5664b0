"""Fan-out over many clusters: one slow or broken cluster never blocks or fails the others."""

from __future__ import annotations

import asyncio

import pytest

from kom_async import Clusters, Kubectl
from kom_async.errors import ClusterUnreachable, KomError, Unauthorized
from kom_async.lab import EKSLab

#: the slow clusters take this many times as long as a whole healthy fan-out measured in the
#: same run (and at least SLOW_FLOOR seconds), so the ordering holds on a loaded machine too
SLOW_FACTOR = 4.0
SLOW_FLOOR = 2.0


async def list_demo_pods(k: Kubectl) -> int:
    return len(await k.resource("Pod").namespace("demo").list())


async def test_gather_over_fifty_clusters_with_five_broken(eks_lab: EKSLab) -> None:
    names = [f"g{i:02d}" for i in range(50)]
    spans: dict[str, tuple[float, float]] = {}  # cluster -> (started, ended), loop time

    async def timed_list(k: Kubectl) -> int:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            return await list_demo_pods(k)
        finally:
            spans[k.cluster_id] = (started, loop.time())

    for name in names:
        await eks_lab.create_cluster(name)
    async with Clusters() as clusters:
        for name in names[:45]:
            await clusters.register_eks_by_string(eks_lab.kubeconfig(name), cluster_id=name)
        for name in names[45:]:
            await clusters.register_by_string(eks_lab.kubeconfig(name, static_token=True), cluster_id=name)
        loop = asyncio.get_running_loop()
        before = loop.time()
        await clusters.gather(list_demo_pods, concurrency=50, timeout=60)  # all healthy, cold
        slow_delay = max(SLOW_FLOOR, SLOW_FACTOR * (loop.time() - before))
        for name in names[40:45]:
            eks_lab.api_fault(name, delay=slow_delay)  # slow but healthy
        for name in names[45:48]:
            eks_lab.revoke_tokens(name)  # static tokens revoked: 401 after one refresh
        for name in names[48:]:
            eks_lab.api_fault(name, unavailable=True)  # connections dropped
        results = await clusters.gather(timed_list, concurrency=50, timeout=slow_delay + 30)
    assert set(results) == set(names)
    ok = {cid: r for cid, r in results.items() if not isinstance(r, BaseException)}
    failed = {cid: r for cid, r in results.items() if isinstance(r, BaseException)}
    assert len(ok) == 45 and all(r >= 3 for r in ok.values())
    assert sorted(failed) == names[45:]
    assert all(isinstance(failed[n], Unauthorized) for n in names[45:48])
    assert all(isinstance(failed[n], ClusterUnreachable) for n in names[48:])
    assert all("cannot reach the API server" in str(failed[n]) for n in names[48:])
    # run together, not one after another: every slow call was in flight at the same moment
    slow = [spans[n] for n in names[40:45]]
    assert max(start for start, _ in slow) < min(end for _, end in slow)
    # and the slow ones held nobody up: every healthy cluster answered before any slow one did
    fast = [spans[n] for n in names[:40]]
    assert max(end for _, end in fast) < min(end for _, end in slow)


async def test_gather_times_out_a_hanging_cluster_and_keeps_the_rest(eks_lab: EKSLab) -> None:
    await eks_lab.create_cluster("hang")
    async with Clusters() as clusters:
        await clusters.register_eks_by_string(eks_lab.kubeconfig("lab"), cluster_id="lab")
        await clusters.register_eks_by_string(eks_lab.kubeconfig("hang"), cluster_id="hang")
        await clusters.gather(list_demo_pods)  # warm: discovery done, connections open
        eks_lab.api_fault("hang", delay=120)
        # the timeout leaves "lab" (one request now) room on a busy machine; "hang" needs 120 s
        results = await clusters.gather(list_demo_pods, timeout=3)
    assert results["lab"] == 3
    assert isinstance(results["hang"], TimeoutError) and "3 s" in str(results["hang"])


async def test_gather_runs_only_the_requested_ids_and_respects_concurrency(eks_lab: EKSLab) -> None:
    for name in ("a", "b", "c"):
        await eks_lab.create_cluster(name)
    running = 0
    peak = 0

    async def probe(k: Kubectl) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return k.cluster_id

    async with Clusters() as clusters:
        for name in ("a", "b", "c"):
            await clusters.register_by_string(eks_lab.kubeconfig(name, static_token=True), cluster_id=name)
        assert await clusters.gather(probe, ids=["a", "c"]) == {"a": "a", "c": "c"}
        peak = 0
        await clusters.gather(probe, concurrency=1)
        assert peak == 1
        with pytest.raises(KomError):
            await clusters.gather(probe, ids=["missing"])


async def test_gather_runs_its_calls_in_as_many_tasks_as_its_concurrency(eks_lab: EKSLab) -> None:
    # a task per cluster, made at once, is ~10,000 tasks' small objects at the peak of a fan-out
    # whose freed memory the allocator keeps scattered; `concurrency` workers take turns instead
    names = [f"w{i}" for i in range(6)]
    for name in names:
        await eks_lab.create_cluster(name)
    seen: list[int] = []

    async def count_tasks(k: Kubectl) -> int:
        seen.append(len([t for t in asyncio.all_tasks() if t.get_name().startswith("kom-async:gather")]))
        return await list_demo_pods(k)

    async with Clusters() as clusters:
        for name in names:
            await clusters.register_by_string(eks_lab.kubeconfig(name, static_token=True), cluster_id=name)
        results = await clusters.gather(count_tasks, concurrency=2)
    assert results == dict.fromkeys(names, 3)  # every cluster answered, in the clusters' order
    assert list(results) == names
    assert len(seen) == 6 and max(seen) == 2

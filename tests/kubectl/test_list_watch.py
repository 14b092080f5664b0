"""Pagination and watches: continue tokens, dropped connections, 410 Gone, clean exits."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from typing import Any

import pytest
from kubectl_helpers import CountingApiClient

from kom_async.errors import KubernetesError
from kom_async.kubectl import Kubectl, Watch
from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def next_event(events: Watch[Any], timeout: float = 5.0) -> tuple[str, Any]:
    return await asyncio.wait_for(anext(events), timeout)


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


async def make_configmaps(kubectl: Kubectl, count: int, batch: str = "p") -> None:
    cms = kubectl.resource("cm").namespace("demo")
    for i in range(count):
        await cms.create({"metadata": {"name": f"{batch}-{i}", "labels": {"batch": batch}}})


async def test_list_follows_continue_tokens_across_three_pages(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    await make_configmaps(kubectl, 7)
    cms = kubectl.resource("configmaps").namespace("demo").labels("batch=p")
    await kubectl.api_resources()

    pages = [names(page) async for page in cms.limit(3).pages()]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(n for page in pages for n in page) == [f"p-{i}" for i in range(7)]

    before = api.count("/configmaps")
    assert sorted(names(await cms.list(page_size=3))) == [f"p-{i}" for i in range(7)]
    assert api.count("/configmaps") - before == 3  # three pages, three requests

    before = api.count("/configmaps")
    assert len(await cms.limit(3).list()) == 3  # a limit means one page, no continuation
    assert api.count("/configmaps") - before == 1
    assert await cms.count() == 7


async def test_watch_reports_added_modified_deleted_for_configmaps(kubectl: Kubectl) -> None:
    cms = kubectl.resource("cm").namespace("demo")
    async with cms.labels("w=1").watch(send_initial=False) as events:
        await cms.create({"metadata": {"name": "watched", "labels": {"w": "1"}}})
        assert (await next_event(events))[0] == "ADDED"
        await cms.name("watched").patch({"data": {"k": "v"}})
        kind, obj = await next_event(events)
        assert (kind, obj["data"]) == ("MODIFIED", {"k": "v"})
        await cms.name("watched").delete()
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"], obj["kind"]) == ("DELETED", "watched", "ConfigMap")


async def test_watch_starts_with_current_pods_then_follows_changes(kubectl: Kubectl) -> None:
    pods = kubectl.resource("pods").namespace("demo")
    async with pods.labels("app=web").watch() as events:
        initial = [await next_event(events), await next_event(events)]
        assert sorted((k, o["metadata"]["name"]) for k, o in initial) == [
            ("ADDED", "web-0"),
            ("ADDED", "web-1"),
        ]
        await pods.name("web-1").delete()
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("DELETED", "web-1")


async def test_watch_one_deployment_by_name(kubectl: Kubectl) -> None:
    web = kubectl.deployment("web", "demo")
    async with web.watch() as events:
        assert (await next_event(events))[0] == "ADDED"
        await web.scale(5)
        kind, obj = await next_event(events)
        assert (kind, obj["spec"]["replicas"]) == ("MODIFIED", 5)


async def test_watch_survives_the_lab_dropping_its_connection(
    lab: EKSLab, cluster: LabCluster, kubectl: Kubectl
) -> None:
    cms = kubectl.resource("cm").namespace("demo")
    async with cms.labels("d=1").watch(send_initial=False) as events:
        await cms.create({"metadata": {"name": "before", "labels": {"d": "1"}}})
        assert (await next_event(events))[1]["metadata"]["name"] == "before"
        assert lab.drop_watches(cluster.name) == 1
        await cms.create({"metadata": {"name": "after", "labels": {"d": "1"}}})
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "after")
        assert lab.drop_watches(cluster.name) == 1
        await cms.name("after").patch({"data": {"x": "y"}})
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("MODIFIED", "after")
        assert events.reconnects == 2 and events.relists == 0
    assert lab.stats(cluster.name).watches_dropped == 2


async def test_watch_lists_again_after_410_gone_and_reports_what_it_missed(
    lab: EKSLab, cluster: LabCluster, kubectl: Kubectl
) -> None:
    cms = kubectl.resource("cm").namespace("demo").labels("g=1")
    events = cms.watch(send_initial=False)
    try:
        await events.start()
        await cms.create({"metadata": {"name": "old", "labels": {"g": "1"}}})
        assert (await next_event(events))[0] == "ADDED"
        lab.drop_watches(cluster.name)
        await asyncio.sleep(0.05)  # the server closes the stream
        await cms.name("old").delete()
        await cms.create({"metadata": {"name": "new", "labels": {"g": "1"}}})
        store = lab._state(cluster.name).store  # compact the history: our resourceVersion expires
        store._compacted_rv = store.resource_version
        got = sorted([await next_event(events), await next_event(events)], key=lambda e: e[0])
        assert [(k, o["metadata"]["name"]) for k, o in got] == [("ADDED", "new"), ("DELETED", "old")]
        assert events.relists == 1
    finally:
        await events.aclose()


async def test_breaking_out_of_a_watch_closes_its_connection(kubectl: Kubectl) -> None:
    events = kubectl.resource("pods").namespace("demo").watch()
    gone = weakref.ref(events)
    async for _ in events:
        response = events._response
        break
    assert response is not None and not response.closed
    del events
    gc.collect()
    assert gone() is None and response.closed


async def test_a_watch_ends_at_its_timeout(kubectl: Kubectl) -> None:
    started = time.monotonic()
    seen = [e async for e in kubectl.resource("cm").namespace("kube-public").watch(timeout_seconds=0.5)]
    # not before the timeout; and well before "never" (10x: room for a busy machine)
    assert seen == [] and 0.4 < time.monotonic() - started < 5


async def test_many_watches_and_lists_share_one_discovery_round(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    base = kubectl.resource("po").namespace("demo")
    watches = [base.labels({"app": "web"}).watch() for _ in range(10)]
    try:
        results = await asyncio.gather(
            *(base.labels({"app": "web"}).list() for _ in range(30)), *(w.start() for w in watches)
        )
        assert all(len(r) == 2 for r in results[:30])
        for w in watches:
            assert [(await next_event(w))[0] for _ in range(2)] == ["ADDED", "ADDED"]
    finally:
        for w in watches:
            await w.aclose()
    assert kubectl.discovery.loads == 1
    assert sum(1 for _, url in api.requests if url.endswith("/api")) == 1


async def test_a_timed_out_wait_for_the_next_event_loses_nothing(kubectl: Kubectl) -> None:
    cms = kubectl.resource("cm").namespace("demo").labels("t=1")
    async with cms.watch(send_initial=False) as events:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(events), 0.2)
        await cms.create({"metadata": {"name": "late", "labels": {"t": "1"}}})
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "late")


async def test_a_watch_rides_out_a_short_outage(lab: EKSLab, cluster: LabCluster, kubectl: Kubectl) -> None:
    cms = kubectl.resource("cm").namespace("demo").labels("o=1")
    async with cms.watch(send_initial=False) as events:
        lab.api_fault(cluster.name, status=503, count=2)  # the next two reconnects fail
        lab.drop_watches(cluster.name)
        await asyncio.sleep(0.05)
        kind_task = asyncio.ensure_future(next_event(events))
        await asyncio.sleep(0.3)  # the watch is retrying through the outage
        lab.clear_api_fault(cluster.name)
        await cms.create({"metadata": {"name": "after-outage", "labels": {"o": "1"}}})
        kind, obj = await kind_task
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "after-outage")


async def test_a_watch_gives_up_with_the_servers_error_after_max_retries(
    lab: EKSLab, cluster: LabCluster, kubectl: Kubectl
) -> None:
    events = kubectl.resource("cm").namespace("demo").watch(send_initial=False, max_retries=2)
    try:
        await events.start()
        lab.api_fault(cluster.name, status=503)
        lab.drop_watches(cluster.name)
        with pytest.raises(KubernetesError) as failure:
            await next_event(events)
        assert failure.value.status_code == 503 and failure.value.kind == "ConfigMap"
        with pytest.raises(StopAsyncIteration):  # a failed watch stays finished
            await anext(events)
    finally:
        lab.clear_api_fault(cluster.name)
        await events.aclose()


async def test_a_watch_retries_its_first_list_through_a_transient_error(
    lab: EKSLab, cluster: LabCluster, kubectl: Kubectl
) -> None:
    await kubectl.api_resources()
    lab.api_fault(cluster.name, status=503, count=1)
    async with kubectl.pod("web-0", "demo").watch() as events:
        kind, obj = await next_event(events)
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "web-0")
    assert lab.stats(cluster.name).faults_injected == 1


async def test_a_silent_stream_is_recycled_and_the_watch_resumes(
    kubectl: Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kom_async.kubectl.watch as module

    # the server keeps each stream 1 s; we give up on a silent one after 0.1 s
    monkeypatch.setattr(module, "_WATCH_CYCLE", 1)
    monkeypatch.setattr(module, "_WATCH_GRACE", -0.9)
    cms = kubectl.resource("cm").namespace("demo").labels("s=1")
    async with cms.watch(send_initial=False) as events:
        waiting = asyncio.ensure_future(next_event(events))
        await asyncio.sleep(0.5)  # several silent streams come and go meanwhile
        assert events.reconnects >= 2 and not waiting.done()
        await cms.create({"metadata": {"name": "quiet", "labels": {"s": "1"}}})
        kind, obj = await waiting
        assert (kind, obj["metadata"]["name"]) == ("ADDED", "quiet")

"""wait(): like ``kubectl wait --for``, on the lab's watch: met, met later, timed out, deleted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubectl_helpers import CountingApiClient
from kubernetes_asyncio.client import CoreV1Api

from kom_async.errors import NotFound, QueryError, WaitTimeout
from kom_async.kubectl import Kubectl

pytestmark = pytest.mark.asyncio(loop_scope="module")


def pod(name: str, ready: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {"wait": "yes"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": ready}]},
    }


async def started(coro: Any) -> asyncio.Task[Any]:
    """Run ``coro`` in a task and give it time to list and open its watch."""
    task = asyncio.ensure_future(coro)
    for _ in range(20):
        await asyncio.sleep(0.01)
    return task


async def test_a_condition_already_met_returns_at_once_without_watching(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    before = api.count("watch=true")
    met = await kubectl.pod("web-0", "demo").wait("condition=Ready", timeout=5)
    assert [p["metadata"]["name"] for p in met] == ["web-0"]
    assert await kubectl.pod("web-0", "demo").wait("jsonpath={.status.phase}=Running")
    assert await kubectl.resource("pods").namespace("demo").labels("app=web").wait("condition=ready")
    assert api.count("watch=true") == before


async def test_waiting_for_a_condition_returns_when_the_object_changes(kubectl: Kubectl) -> None:
    cms = kubectl.resource("configmaps").namespace("demo")
    await cms.create({"metadata": {"name": "flag"}, "data": {"ready": "no"}})
    waiter = await started(cms.name("flag").wait("jsonpath={.data.ready}=yes", timeout=10))
    assert not waiter.done()
    await cms.name("flag").patch({"data": {"other": "x"}})  # an unrelated change is not enough
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await cms.name("flag").patch({"data": {"ready": "yes"}})
    met = await asyncio.wait_for(waiter, 10)
    assert met[0]["data"]["ready"] == "yes"


async def test_waiting_for_a_pod_condition_to_become_true_and_false(kubectl: Kubectl) -> None:
    pods = kubectl.resource("pods").namespace("demo")
    await pods.create(pod("slow", "False"))
    assert await pods.name("slow").wait("condition=Ready=False", timeout=5)
    waiter = await started(pods.name("slow").wait("condition=Ready", timeout=10))
    # status changes through the status subresource, as a kubelet would report it
    await CoreV1Api(kubectl.api_client).patch_namespaced_pod_status(
        "slow", "demo", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    )
    met = await asyncio.wait_for(waiter, 10)
    assert met[0]["status"]["conditions"][0]["status"] == "True"


async def test_a_condition_never_met_times_out_with_a_typed_error(kubectl: Kubectl) -> None:
    with pytest.raises(WaitTimeout) as info:
        await kubectl.pod("web-0", "demo").wait("condition=Ready=False", timeout=0.3)
    assert isinstance(info.value, TimeoutError)
    assert "'web-0'" in str(info.value) and "condition=Ready=False" in str(info.value)


async def test_waiting_for_delete_returns_once_every_matching_object_is_gone(kubectl: Kubectl) -> None:
    pods = kubectl.resource("pods").namespace("demo")
    for name in ("gone-1", "gone-2"):
        await pods.create(pod(name, "True", {"batch": "gone"}))
    waiter = await started(pods.labels("batch=gone").wait("delete", timeout=10))
    await pods.name("gone-1").delete()
    await asyncio.sleep(0.05)
    assert not waiter.done()  # one of two is still there
    await pods.name("gone-2").delete()
    assert await asyncio.wait_for(waiter, 10) == []
    # nothing left to delete: met at once
    assert await pods.name("gone-1").wait("delete", timeout=5) == []


async def test_an_object_deleted_while_waiting_for_a_condition_is_not_found(kubectl: Kubectl) -> None:
    pods = kubectl.resource("pods").namespace("demo")
    await pods.create(pod("doomed", "False"))
    waiter = await started(pods.name("doomed").wait("condition=Ready", timeout=10))
    await pods.name("doomed").delete()
    with pytest.raises(NotFound, match="deleted while waiting"):
        await asyncio.wait_for(waiter, 10)


async def test_waiting_on_a_missing_object_is_not_found_at_once(kubectl: Kubectl) -> None:
    with pytest.raises(NotFound):
        await kubectl.pod("never-there", "demo").wait("condition=Ready", timeout=30)


@pytest.mark.parametrize(
    "condition",
    [
        "",
        "ready",
        "condition",
        "condition==True",
        "jsonpath=",
        "jsonpath={.status.phase",
        "jsonpath=status",
        "delete=now",
    ],
)
async def test_a_malformed_condition_is_a_query_error_before_any_request(
    kubectl: Kubectl, api: CountingApiClient, condition: str
) -> None:
    before = len(api.requests)
    with pytest.raises(QueryError):
        await kubectl.pod("web-0", "demo").wait(condition)
    assert len(api.requests) == before


async def test_a_condition_of_an_older_generation_does_not_count(kubectl: Kubectl) -> None:
    """Like kubectl: Ready=True in a status that describes an older spec is not met yet."""
    pods = kubectl.resource("pods").namespace("demo")
    created = pod("regen", "True")
    created["status"]["observedGeneration"] = 1
    await pods.create(created)
    await pods.name("regen").patch({"spec": {"activeDeadlineSeconds": 600}})  # generation 2
    assert (await pods.name("regen").get())["metadata"]["generation"] == 2
    waiter = await started(pods.name("regen").wait("condition=Ready", timeout=10))
    await asyncio.sleep(0.05)
    assert not waiter.done(), "Ready of generation 1 was taken for generation 2"
    await CoreV1Api(kubectl.api_client).patch_namespaced_pod_status(
        "regen", "demo", {"status": {"observedGeneration": 2}}
    )
    met = await asyncio.wait_for(waiter, 10)
    assert met[0]["status"]["observedGeneration"] == 2

"""Watches (resume, drop, timeout, 410) and the fault knobs for the API server and AWS."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from lab_helpers import LabAPI, pod

from kom_async.lab import EKSLab
from kom_async.lab.resources import BUILTIN_TYPES
from kom_async.lab.status import ApiError
from kom_async.lab.store import ObjectStore

PODS = "/api/v1/namespaces/demo/pods"


async def watch_events(api: LabAPI, path: str, **params: str) -> AsyncIterator[dict[str, Any]]:
    """Yield watch events until the server ends or drops the stream."""
    async with api.session.get(
        api.cluster.server + path,
        params={"watch": "1", **params},
        headers={"Authorization": f"Bearer {api.token}"},
        ssl=api.ssl,
    ) as resp:
        assert resp.status == 200
        async for line in resp.content:
            if line.strip():
                yield json.loads(line)


async def test_a_watch_sees_existing_objects_then_changes(api: LabAPI) -> None:
    events: list[tuple[str, str]] = []

    async def consume() -> None:
        async for ev in watch_events(api, PODS, labelSelector="app in (web,new)", timeoutSeconds="5"):
            events.append((ev["type"], ev["object"]["metadata"]["name"]))
            if ev["type"] == "DELETED":
                return

    task = asyncio.create_task(consume())
    while len(events) < 2:
        await asyncio.sleep(0.01)
    await api.post(PODS, pod("new-0", {"app": "new"}))
    await api.post(PODS, pod("other", {"app": "other"}))  # filtered out by the selector
    await api.patch(f"{PODS}/new-0", {"metadata": {"labels": {"x": "1"}}}, "application/merge-patch+json")
    await api.delete(f"{PODS}/new-0")
    await asyncio.wait_for(task, 5)
    assert events == [
        ("ADDED", "web-0"),
        ("ADDED", "web-1"),
        ("ADDED", "new-0"),
        ("MODIFIED", "new-0"),
        ("DELETED", "new-0"),
    ]


async def test_a_dropped_watch_resumes_from_its_last_resource_version(eks_lab: EKSLab, api: LabAPI) -> None:
    seen: list[str] = []
    last_rv = ""
    with pytest.raises(aiohttp.ClientError):
        async for ev in watch_events(api, PODS):
            seen.append(ev["object"]["metadata"]["name"])
            last_rv = ev["object"]["metadata"]["resourceVersion"]
            if len(seen) == 3:
                assert eks_lab.drop_watches("lab") == 1
                await api.post(PODS, pod("during-drop"))  # happens while nobody watches
    assert eks_lab.stats("lab").watches_dropped == 1
    resumed = [
        (ev["type"], ev["object"]["metadata"]["name"])
        async for ev in watch_events(api, PODS, resourceVersion=last_rv, timeoutSeconds="1")
    ]
    assert resumed == [("ADDED", "during-drop")]


async def test_a_watch_ends_cleanly_at_timeout_seconds(api: LabAPI) -> None:
    started = time.monotonic()
    _, body = await api.get("/api/v1/namespaces", params={"limit": "1"})
    rv = body["metadata"]["resourceVersion"]
    events = [
        ev async for ev in watch_events(api, "/api/v1/namespaces", resourceVersion=rv, timeoutSeconds="1")
    ]
    # not before the timeout; and well before "never" (10x: room for a busy machine)
    assert events == [] and 0.9 < time.monotonic() - started < 10
    await api.post("/api/v1/namespaces", {"metadata": {"name": "later"}})
    events = [
        ev
        async for ev in watch_events(
            api, "/api/v1/namespaces", resourceVersion=rv, timeoutSeconds="1", allowWatchBookmarks="true"
        )
    ]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) >= int(
        events[0]["object"]["metadata"]["resourceVersion"]
    )


def test_a_resource_version_older_than_the_history_is_410_gone() -> None:
    store = ObjectStore(lambda: datetime.now(UTC), history=3)
    cms = next(t for t in BUILTIN_TYPES if t.plural == "configmaps")
    for i in range(6):
        store.create(cms, "demo", {"metadata": {"name": f"c{i}"}})
    with pytest.raises(ApiError) as info:
        store.events_since(2, cms.key)
    assert info.value.code == 410 and info.value.body["reason"] == "Expired"
    assert [e.obj["metadata"]["name"] for e in store.events_since(store.resource_version - 1, cms.key)] == [
        "c5"
    ]


async def test_api_fault_answers_429_with_retry_after_for_n_requests(eks_lab: EKSLab, api: LabAPI) -> None:
    eks_lab.api_fault("lab", status=429, retry_after=2, count=2)
    for _ in range(2):
        async with api.session.get(api.cluster.server + PODS, ssl=api.ssl) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "2"
            assert (await resp.json())["reason"] == "TooManyRequests"
    assert (await api.get(PODS))[0] == 200
    assert eks_lab.stats("lab").faults_injected == 2


async def test_api_fault_can_make_a_cluster_slow_or_unreachable_until_cleared(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    eks_lab.api_fault("lab", delay=0.3)
    started = time.monotonic()
    assert (await api.get(PODS))[0] == 200
    assert time.monotonic() - started >= 0.3
    eks_lab.api_fault("lab", unavailable=True)
    for _ in range(2):
        with pytest.raises(aiohttp.ClientError):
            await api.get(PODS)
    eks_lab.clear_api_fault("lab")
    assert (await api.get(PODS))[0] == 200


async def test_an_unknown_cluster_path_is_404(api: LabAPI) -> None:
    async with api.session.get(api.cluster.server.replace("/lab", "/ghost") + "/api", ssl=api.ssl) as resp:
        assert resp.status == 404


@pytest.fixture
def lab_env(eks_lab: EKSLab, monkeypatch: pytest.MonkeyPatch) -> EKSLab:
    for key, value in eks_lab.aws_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return eks_lab


async def test_aiobotocore_describe_cluster_and_sts_faults(lab_env: EKSLab) -> None:
    session = get_session()
    config = AioConfig(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=5)
    role = await lab_env.create_role("faulty", map_as="faulty")
    async with (
        session.create_client("eks", config=config) as eks,
        session.create_client("sts", config=config) as sts,
    ):
        described = (await eks.describe_cluster(name="lab"))["cluster"]
        assert described["endpoint"] == lab_env.cluster("lab").server

        lab_env.sts_fault(status=503, retry_after=1, count=1)
        with pytest.raises(ClientError) as info:
            await sts.assume_role(RoleArn=role, RoleSessionName="s1")
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503

        lab_env.sts_fault(unavailable=True, count=1)
        with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
            await sts.assume_role(RoleArn=role, RoleSessionName="s2")

        lab_env.sts_fault(delay=0.3, count=1)
        started = time.monotonic()
        creds = (await sts.assume_role(RoleArn=role, RoleSessionName="s3"))["Credentials"]
        assert time.monotonic() - started >= 0.3 and creds["AccessKeyId"].startswith("ASIA")
        assert (await eks.describe_cluster(name="lab"))["cluster"]["status"] == "ACTIVE"
    assert lab_env.aws_requests()["sts"] == 3 and lab_env.aws_requests()["eks"] == 2


async def test_deleted_and_booting_clusters_as_eks_and_the_api_see_them(lab_env: EKSLab, api: LabAPI) -> None:
    session = get_session()
    config = AioConfig(retries={"total_max_attempts": 1})
    await lab_env.create_cluster("temp", seed=False)
    lab_env.set_cluster_status("temp", "UPDATING")
    async with session.create_client("eks", config=config) as eks:
        assert (await eks.describe_cluster(name="temp"))["cluster"]["status"] == "UPDATING"
        await lab_env.delete_cluster("temp")
        with pytest.raises(ClientError) as info:
            await eks.describe_cluster(name="temp")
        assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    async with api.session.get(api.cluster.server.replace("/lab", "/temp") + "/version", ssl=api.ssl) as resp:
        assert resp.status == 404

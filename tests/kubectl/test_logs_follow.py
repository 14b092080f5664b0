"""Log streams: lines arrive as they are written; break, cancel and aclose end the stream."""

from __future__ import annotations

import asyncio

import pytest

from kom_async.errors import QueryError
from kom_async.kubectl import Kubectl
from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")


def followers(lab: EKSLab, cluster: LabCluster) -> int:
    """How many follow streams the lab is serving for this cluster."""
    return sum(len(queues) for queues in lab._state(cluster.name).logs.followers.values())


async def until(predicate: object, what: str) -> None:
    for _ in range(500):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_followed_lines_arrive_as_they_are_written(kubectl: Kubectl, lab: EKSLab, cluster: LabCluster) -> None:
    lab.set_pod_log(cluster.name, "demo", "web-0", ["old 1", "old 2"])
    async with kubectl.pod("web-0", "demo").logs(follow=True, tail_lines=1) as lines:
        assert await asyncio.wait_for(anext(lines), 10) == "old 2"
        for text in ("new 1", "new 2"):
            lab.append_pod_log(cluster.name, "demo", "web-0", text)
            assert await asyncio.wait_for(anext(lines), 10) == text
        pending = asyncio.ensure_future(anext(lines))
        await asyncio.sleep(0.05)
        assert not pending.done()  # nothing written: nothing read
        lab.append_pod_log(cluster.name, "demo", "web-0", "new 3")
        assert await asyncio.wait_for(pending, 10) == "new 3"
    await until(lambda: followers(lab, cluster) == 0, "the server saw the stream close")


async def test_cancelling_the_reader_closes_the_stream(kubectl: Kubectl, lab: EKSLab, cluster: LabCluster) -> None:
    got: list[str] = []

    async def reader() -> None:
        async for line in kubectl.pod("web-1", "demo").logs(follow=True, since_seconds=3600):
            got.append(line)

    task = asyncio.ensure_future(reader())
    await until(lambda: followers(lab, cluster) == 1, "the stream is open")
    lab.append_pod_log(cluster.name, "demo", "web-1", "seen")
    await until(lambda: "seen" in got, "the line was read")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: followers(lab, cluster) == 0, "the server saw the stream close")


async def test_breaking_out_closes_the_stream(kubectl: Kubectl, lab: EKSLab, cluster: LabCluster) -> None:
    stream = kubectl.pod("web-0", "demo").logs(follow=True)
    async for _line in stream:
        break
    await stream.aclose()
    await until(lambda: followers(lab, cluster) == 0, "the server saw the stream close")
    assert [line async for line in stream] == []  # a closed stream stays closed


async def test_logs_without_follow_are_still_awaitable_text_and_iterable_lines(
    kubectl: Kubectl, lab: EKSLab, cluster: LabCluster
) -> None:
    lab.set_pod_log(cluster.name, "demo", "api-0", ["one", "two", "three"])
    pod = kubectl.pod("api-0", "demo")
    assert await pod.logs() == "one\ntwo\nthree\n"
    assert [line async for line in pod.logs(tail_lines=2)] == ["two", "three"]
    with pytest.raises(QueryError, match="async for"):
        await pod.logs(follow=True)
    with pytest.raises(QueryError, match="tail_lines"):
        pod.logs(tail_lines=-1)

"""pods/log: follow streams appended lines, ends on cancel or deletion; filters and hostile options."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from lab_helpers import KUBECTL, LabAPI, needs_kubectl, pod

from kom_async.lab import EKSLab, FakeClock

LOG = "/api/v1/namespaces/demo/pods/web-0/log"


@asynccontextmanager
async def follow(api: LabAPI, path: str = LOG, **params: str) -> AsyncIterator[aiohttp.ClientResponse]:
    async with api.session.get(
        api.cluster.server + path,
        params={"follow": "true", **params},
        headers={"Authorization": f"Bearer {api.token}"},
        ssl=api.ssl,
    ) as resp:
        assert resp.status == 200, await resp.text()
        yield resp


def followers(lab: EKSLab) -> int:
    return sum(len(q) for q in lab._state("lab").logs.followers.values())


async def until_following(lab: EKSLab, n: int = 1) -> None:
    while followers(lab) != n:
        await asyncio.sleep(0.01)


async def test_follow_streams_lines_as_they_are_appended(eks_lab: EKSLab, api: LabAPI) -> None:
    async with follow(api, tailLines="2") as resp:
        assert await resp.content.readline() == b"web-0/web: log line 19\n"
        assert await resp.content.readline() == b"web-0/web: log line 20\n"
        await until_following(eks_lab)
        eks_lab.append_pod_log("lab", "demo", "web-0", "first new line")
        assert await resp.content.readline() == b"first new line\n"
        eks_lab.append_pod_log("lab", "demo", "web-0", "second", "third")
        assert await resp.content.readline() == b"second\n"
        assert await resp.content.readline() == b"third\n"
    status, text = await api.get(LOG, params={"tailLines": "3"})
    assert (status, text) == (200, "first new line\nsecond\nthird\n")


async def test_a_client_that_cancels_stops_its_stream_on_the_server(eks_lab: EKSLab, api: LabAPI) -> None:
    async def reader() -> None:
        async with follow(api, tailLines="0") as resp:
            async for _ in resp.content:
                pass

    task = asyncio.create_task(reader())
    await until_following(eks_lab)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await until_following(eks_lab, 0)


async def test_deleting_the_pod_ends_the_stream_and_a_new_pod_of_that_name_has_a_new_log(
    eks_lab: EKSLab, api: LabAPI
) -> None:
    assert (await api.post("/api/v1/namespaces/demo/pods", pod("short-lived")))[0] == 201
    path = "/api/v1/namespaces/demo/pods/short-lived/log"
    eks_lab.set_pod_log("lab", "demo", "short-lived", ["only line"])
    async with follow(api, path) as resp:
        assert await resp.content.readline() == b"only line\n"
        await until_following(eks_lab)
        assert (await api.delete(path.removesuffix("/log")))[0] == 200
        assert await resp.content.read() == b""  # the server ended the response
    assert (await api.post("/api/v1/namespaces/demo/pods", pod("short-lived")))[0] == 201
    status, text = await api.get(path)
    assert status == 200 and "only line" not in text


async def test_since_seconds_timestamps_and_limit_bytes_use_the_lab_clock(
    lab_clock: FakeClock, eks_lab: EKSLab, api: LabAPI
) -> None:
    eks_lab.set_pod_log("lab", "demo", "web-0", ["old"])
    lab_clock.advance(120)
    eks_lab.append_pod_log("lab", "demo", "web-0", "new")
    status, text = await api.get(LOG, params={"sinceSeconds": "60"})
    assert text == "new\n"
    status, text = await api.get(LOG, params={"timestamps": "true", "tailLines": "1"})
    stamp = lab_clock.now().strftime("%Y-%m-%dT%H:%M:%S.")
    assert text.startswith(stamp) and text.endswith("Z new\n") and len(text.split(" ")[0]) == 30
    status, text = await api.get(LOG, params={"limitBytes": "5"})
    assert (status, text) == (200, "old\nn")
    async with follow(api, limitBytes="10") as resp:
        await until_following(eks_lab)
        eks_lab.append_pod_log("lab", "demo", "web-0", "more")
        assert await resp.content.read() == b"old\nnew\nmo"  # the budget spans backlog and new lines


async def test_hostile_or_contradictory_options_answer_4xx(eks_lab: EKSLab, api: LabAPI) -> None:
    for params, code in (
        ({"sinceSeconds": "0"}, 422),
        ({"sinceSeconds": "x"}, 400),
        ({"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}, 422),
        ({"sinceTime": "yesterday"}, 400),
        ({"tailLines": "-1"}, 422),
        ({"limitBytes": "0"}, 422),
        ({"follow": "yes please"}, 400),
        ({"previous": "true"}, 400),
        ({"container": "../../etc"}, 400),
    ):
        status, body = await api.get(LOG, params=params)
        assert status == code and body["kind"] == "Status", params
    status, _ = await api.patch(
        "/api/v1/namespaces/demo/pods/web-1/status", {"status": {"phase": "Pending"}}, "application/merge-patch+json"
    )
    status, body = await api.get("/api/v1/namespaces/demo/pods/web-1/log")
    assert status == 400 and "waiting to start" in body["message"]


async def test_lab_stop_ends_open_follows(eks_lab: EKSLab, api: LabAPI) -> None:
    async with follow(api, tailLines="0") as resp:
        await until_following(eks_lab)
        assert eks_lab.drop_watches("lab") == 1
        assert await resp.content.read() == b""


@needs_kubectl
async def test_kubectl_logs_follow_prints_lines_as_they_are_appended_and_exits_when_the_pod_goes(
    eks_lab: EKSLab, api: LabAPI, tmp_path: Path
) -> None:
    assert KUBECTL is not None
    kc = str(eks_lab.write_kubeconfig(tmp_path / "kc", "lab", static_token=True, namespace="demo"))
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "--kubeconfig", kc, "logs", "-f", "--tail=1", "web-0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"web-0/web: log line 20\n"
        await until_following(eks_lab)
        eks_lab.append_pod_log("lab", "demo", "web-0", "from the test")
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"from the test\n"
        assert (await api.delete("/api/v1/namespaces/demo/pods/web-0"))[0] == 200
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

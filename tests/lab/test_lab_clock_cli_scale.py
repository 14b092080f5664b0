"""FakeClock semantics, the ``kom-async lab`` command, and a lab with many clusters."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from lab_helpers import KUBECTL, LabAPI, needs_kubectl, run

from kom_async.auth.clock import Clock
from kom_async.lab import EKSLab, FakeClock
from kom_async.lab.cli import main


async def test_fake_clock_sleepers_wake_only_when_time_is_advanced_past_their_deadline() -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    clock = FakeClock(start)
    as_protocol: Clock = clock  # FakeClock satisfies the Clock protocol
    assert as_protocol.now() == start
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("a", 60)), asyncio.create_task(sleeper("b", 900))]
    await asyncio.sleep(0)
    assert clock.sleepers == 2
    clock.advance(59)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(1)
    await asyncio.sleep(0)
    assert woke == ["a"]
    clock.set(start + timedelta(hours=1))
    await asyncio.gather(*tasks)
    assert woke == ["a", "b"] and clock.now() == start + timedelta(hours=1)
    await clock.sleep(0)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        FakeClock(datetime(2030, 1, 1))


async def test_a_cancelled_fake_sleep_leaves_no_sleeper_behind() -> None:
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.sleepers == 0


def test_kom_async_lab_writes_a_private_kubeconfig_and_env_file_and_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["--dir", str(tmp_path), "--clusters", "2", "--name", "c", "--duration", "0.2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"kubeconfig: {tmp_path / 'kubeconfig'}" in out and "stopped" in out
    for name in ("kubeconfig", "aws.env"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    kubeconfig = (tmp_path / "kubeconfig").read_text()
    assert "context: \n" not in kubeconfig and "name: c-1" in kubeconfig and "name: c-2" in kubeconfig
    assert "export AWS_ENDPOINT_URL_STS=http://127.0.0.1:" in (tmp_path / "aws.env").read_text()
    assert main(["--clusters", "0"]) == 2


@needs_kubectl
async def test_kom_async_lab_serves_kubectl_in_the_foreground_until_sigterm(tmp_path: Path) -> None:
    assert KUBECTL is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kom_async.lab.cli",
        "--dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or "Ctrl-C" not in lines[-1]:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "kom-async lab exited early"
            lines.append(line.decode())
        rc, out, err = await run(
            KUBECTL, "--kubeconfig", str(tmp_path / "kubeconfig"), "get", "pods", "-n", "demo"
        )
        assert rc == 0, err
        assert "web-0" in out
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_lab_serves_a_thousand_clusters_from_one_listener() -> None:
    started = time.monotonic()
    async with EKSLab() as lab:
        clusters = [await lab.create_cluster(f"c{i:04d}", seed=False) for i in range(1000)]
        created = time.monotonic() - started
        assert len({c.server for c in clusters}) == 1000
        assert len({c.server.split("/clusters/")[0] for c in clusters}) == 1
        async with aiohttp.ClientSession() as session:
            sample = clusters[::100]
            results = await asyncio.gather(
                *(LabAPI(session, c, lab.static_token(c.name)).get("/api/v1/namespaces") for c in sample)
            )
        assert all(status == 200 for status, _ in results)
        assert lab.stats("c0100").requests == 1 and lab.stats("c0101").requests == 0
    assert created < 20


async def test_the_plugin_fixture_gives_a_started_lab_with_one_cluster(eks_lab: EKSLab) -> None:
    # the plugin's function-scoped fixture gives each test its own started lab with "lab"
    assert [c.name for c in eks_lab.clusters] == ["lab"]
    assert eks_lab.aws_env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert await asyncio.to_thread(os.path.getsize, eks_lab.aws_env["AWS_CONFIG_FILE"]) == 0

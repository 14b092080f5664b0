"""Structured fan-out: gather owns every call it starts, and a cut-short registration leaves
nothing behind."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from kom_async import Clusters, Kubectl

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: {name}
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:9"}}}}]
users: [{{name: u, user: {user}}}]
contexts: [{{name: {name}, context: {{cluster: c, user: u}}}}]
"""


def static(name: str) -> str:
    return KUBECONFIG.format(name=name, user="{token: not-a-real-token}")


async def test_cancelling_gather_cancels_and_awaits_every_call_it_started() -> None:
    started: list[str] = []
    finished: list[str] = []

    async def hang(k: Kubectl) -> None:
        started.append(k.cluster_id)
        try:
            await asyncio.Event().wait()
        finally:
            finished.append(k.cluster_id)

    async with Clusters() as clusters:
        for i in range(6):
            await clusters.register_by_string(static(f"s{i}"))
        task = asyncio.create_task(clusters.gather(hang, concurrency=4))
        while len(started) < 4:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert len(started) == 4  # the capacity limit holds the other two back
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sorted(finished) == sorted(started)  # every started call ended before gather did
        names = [t.get_name() for t in asyncio.all_tasks()]
        assert not [n for n in names if n.startswith("kom-async:gather")]


async def test_a_registration_cut_short_by_a_timeout_kills_its_plugin_and_closes_everything(
    tmp_path: Path,
) -> None:
    plugin = tmp_path / "slow-plugin"
    marker = tmp_path / "pid"
    plugin.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import os, time
            open({str(marker)!r}, "w").write(str(os.getpid()))
            time.sleep(60)
            """
        )
    )
    plugin.chmod(0o755)
    user = (
        "{exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
        f'command: "{plugin}", interactiveMode: Never}}}}'
    )
    async with Clusters() as clusters:
        with pytest.raises(TimeoutError):
            with anyio.fail_after(1.0):
                await clusters.register_by_string(KUBECONFIG.format(name="slow", user=user))
        assert "slow" not in clusters
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        import os

        os.kill(pid, 0)
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("kom-async:fetch")]

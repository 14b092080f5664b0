"""Exec plugins leave nothing behind: no process of their group, no zombie, no open pipe,
and no secret from their stderr in the error (issue 13, item 4)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from auth_helpers import pids_alive

from kom_async.auth.exec import ExecTokenSource
from kom_async.config.kubeconfig import ExecConfig
from kom_async.errors import ExecPluginError

CREDENTIAL = (
    '{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", '
    '"status": {"token": "plugin-token-abc"}}'
)


def forking_plugin(make_plugin: Callable[[str], str], pidfile: Path, *, then: str) -> str:
    """A plugin that starts a child sharing its stdout/stderr (the child sleeps 600 s), records
    both pids, then does ``then`` (exit normally, hang...)."""
    return make_plugin(
        f"""
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open({str(pidfile)!r} + ".tmp", "w") as fh:
    fh.write(f"{{os.getpid()}} {{child.pid}}")
os.rename({str(pidfile)!r} + ".tmp", {str(pidfile)!r})
{then}
"""
    )


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def children_of_this_process() -> list[int]:
    """Pids whose parent is this test process (zombies included)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == me:
                found.append(int(entry))
    return found


async def gone(pids: list[int]) -> list[int]:
    """``pids_alive`` after giving init a moment to reap the killed grandchild (not ours to reap)."""
    for _ in range(100):
        alive = pids_alive(pids)
        if not alive:
            return alive
        await asyncio.sleep(0.02)
    return pids_alive(pids)


async def test_a_plugin_that_exits_while_its_child_holds_the_pipes_returns_its_token_and_leaves_nothing(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    plugin = forking_plugin(make_plugin, pidfile, then=f"print({CREDENTIAL!r}, flush=True)")
    fds, children = open_fds(), children_of_this_process()
    # the timeout is long: the token must come when the plugin exits, not when the timeout kills
    token = await ExecTokenSource(ExecConfig(command=plugin), timeout=120).fetch()
    assert token.value == "plugin-token-abc"
    assert await gone([int(p) for p in pidfile.read_text().split()]) == []
    assert children_of_this_process() == children
    assert open_fds() == fds


async def test_ten_plugins_that_exit_leaving_a_child_on_the_pipes_leave_no_orphan_and_no_open_pipe(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    fds, children = open_fds(), children_of_this_process()
    pids: list[int] = []
    for i in range(10):
        pidfile = tmp_path / f"pids{i}"
        plugin = forking_plugin(make_plugin, pidfile, then="sys.exit(0)")  # exits, prints nothing
        with pytest.raises(ExecPluginError):
            await ExecTokenSource(ExecConfig(command=plugin), timeout=1.5).fetch()
        pids += [int(p) for p in pidfile.read_text().split()]
    assert await gone(pids) == []
    assert children_of_this_process() == children
    assert open_fds() == fds


async def test_a_hanging_forking_plugin_killed_at_the_timeout_leaves_no_orphan_and_no_open_pipe(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    plugin = forking_plugin(make_plugin, pidfile, then="time.sleep(600)")
    fds, children = open_fds(), children_of_this_process()
    with pytest.raises(ExecPluginError, match="did not finish"):
        await ExecTokenSource(ExecConfig(command=plugin), timeout=1.5).fetch()
    assert await gone([int(p) for p in pidfile.read_text().split()]) == []
    assert children_of_this_process() == children
    assert open_fds() == fds


async def test_cancelling_a_forking_plugin_kills_its_whole_group_and_closes_the_pipes(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    plugin = forking_plugin(make_plugin, pidfile, then="time.sleep(600)")
    fds, children = open_fds(), children_of_this_process()
    task = asyncio.create_task(ExecTokenSource(ExecConfig(command=plugin), timeout=120).fetch())
    while not pidfile.exists():
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone([int(p) for p in pidfile.read_text().split()]) == []
    assert children_of_this_process() == children
    assert open_fds() == fds


@pytest.mark.parametrize(
    "leak",
    [
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "xoxb-2633492365-8Kq1YpQx9ZbW",
        "glpat-Xq8sZ2yW4vR6tU1pO3nM",
        "sk-proj-4fT9xQ2mZ8vB1nR7kL3pW6",
        "AKIAQX7EXAMPLEKEY4NZ",
        "ASIAQX7EXAMPLEKEY4NZ",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "DB_PASS=correct-horse-battery",
        "password=correct-horse-battery",
        "secret=correct-horse-battery",
        "token=correct-horse-battery",
        "Authorization: Bearer correct-horse-battery",
        "https://admin:correct-horse-battery@db.internal/",
    ],
)
async def test_secrets_a_plugin_prints_on_stderr_never_reach_the_error(
    make_plugin: Callable[[str], str], leak: str
) -> None:
    plugin = make_plugin(f"import sys\nsys.stderr.write('failed: ' + {leak!r} + ' (see docs)\\n')\nsys.exit(4)\n")
    with pytest.raises(ExecPluginError) as info:
        await ExecTokenSource(ExecConfig(command=plugin)).fetch()
    secret = leak.rsplit("=", 1)[-1].rsplit(" ", 1)[-1].split("@")[0].rsplit(":", 1)[-1]
    for text in (str(info.value), repr(info.value), info.value.stderr or ""):
        assert secret not in text
    assert "code 4" in str(info.value) and "<redacted>" in str(info.value) and "(see docs)" in str(info.value)


@pytest.mark.parametrize("unit", ["e", "ab:", "token", "x=", "a://b"])
def test_scrubbing_grows_linearly_with_the_text_it_is_given(unit: str) -> None:
    """A plugin's 16 KiB stderr tail of one repeated letter once took the scrubber ~80 s
    (quadratic backtracking). Compare 8x more text against its time, measured in this run:
    linear is ~8x, quadratic ~64x (and the quadratic scrubber never finishes at these sizes)."""
    import time

    from kom_async.scrub import scrub

    def cost(size: int) -> float:
        text = unit * (size // len(unit))
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            scrub(text)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = cost(65536), cost(524288)
    assert large / small < 32, (small, large)  # big enough texts that a busy machine's noise is small

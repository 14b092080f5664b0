"""A plugin's descendants cannot hold a fetch (issue 21, item 8): a child that escaped the
plugin's process group with ``setsid`` and keeps its stdout/stderr open neither keeps the
fetch waiting past the exec timeout nor turns a plugin that printed its credential and exited
into a timeout. What is left running is logged, naming the plugin."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from auth_helpers import pids_alive
from kubernetes_asyncio.client import CoreV1Api

from kom_async import Clusters
from kom_async.auth.exec import ExecTokenSource
from kom_async.config.kubeconfig import ExecConfig
from kom_async.errors import ExecPluginError
from kom_async.lab import EKSLab

CREDENTIAL = (
    '{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", '
    '"status": {"token": "escaped-child-token-abc"}}'
)
#: generous: on a busy machine the plugin's own start-up can take a second
TIMEOUT = 2.0
#: the bug waits forever; anything that ends well inside this is the fix
CEILING = TIMEOUT + 20


def escaping_plugin(make_plugin: Callable[[str], str], pidfile: Path, *, holds: str, then: str) -> str:
    """A plugin that starts a child in a new session (``setsid``: outside the plugin's process
    group) holding the plugin's ``holds`` pipes ("stdout", "stderr" or "both"), writes both pids
    to ``pidfile``, then does ``then``."""
    keep_out = holds in ("stdout", "both")
    keep_err = holds in ("stderr", "both")
    return make_plugin(
        f"""
import os, subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(600)"],
    start_new_session=True,
    stdout=None if {keep_out} else subprocess.DEVNULL,
    stderr=None if {keep_err} else subprocess.DEVNULL,
)
with open({str(pidfile)!r} + ".tmp", "w") as fh:
    fh.write(f"{{os.getpid()}} {{child.pid}}")
os.rename({str(pidfile)!r} + ".tmp", {str(pidfile)!r})
{then}
"""
    )


@contextlib.contextmanager
def escaped_child_killed_after(pidfile: Path) -> Iterator[None]:
    """Kill the escaped child when the test ends: it is outside anything kom-async may kill."""
    try:
        yield
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text().split()[1]), signal.SIGKILL)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def left_running_warnings(caplog: pytest.LogCaptureFixture, plugin: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
        and r.name == "kom_async.auth"
        and os.path.basename(plugin) in r.getMessage()
        and "still holds" in r.getMessage()
    ]


@pytest.mark.parametrize("holds", ["stdout", "stderr", "both"])
async def test_a_hanging_plugin_whose_setsid_child_holds_its_pipes_times_out_and_is_reaped(
    make_plugin: Callable[[str], str], tmp_path: Path, caplog: pytest.LogCaptureFixture, holds: str
) -> None:
    pidfile = tmp_path / "pids"
    plugin = escaping_plugin(make_plugin, pidfile, holds=holds, then="time.sleep(600)")
    fds = open_fds()
    with escaped_child_killed_after(pidfile):
        with anyio.fail_after(CEILING), pytest.raises(ExecPluginError, match="did not finish within 2 s"):
            await ExecTokenSource(ExecConfig(command=plugin), timeout=TIMEOUT).fetch()
        assert open_fds() == fds  # our ends of its pipes are closed, although it holds the others
        plugin_pid, child_pid = (int(p) for p in pidfile.read_text().split())
        assert pids_alive([plugin_pid]) == []  # the plugin itself: killed and reaped
        assert pids_alive([child_pid]) == [child_pid]  # the escaped child: out of reach...
        assert left_running_warnings(caplog, plugin)  # ...so it is reported


@pytest.mark.parametrize("holds", ["stdout", "stderr", "both"])
async def test_a_plugin_that_printed_its_credential_and_exited_succeeds_while_a_setsid_child_holds_its_pipes(
    make_plugin: Callable[[str], str], tmp_path: Path, caplog: pytest.LogCaptureFixture, holds: str
) -> None:
    pidfile = tmp_path / "pids"
    plugin = escaping_plugin(make_plugin, pidfile, holds=holds, then=f"print({CREDENTIAL!r}, flush=True)")
    with escaped_child_killed_after(pidfile):
        with anyio.fail_after(CEILING):
            token = await ExecTokenSource(ExecConfig(command=plugin), timeout=TIMEOUT).fetch()
        assert token.value == "escaped-child-token-abc"
        assert pids_alive([int(pidfile.read_text().split()[0])]) == []
        warnings = left_running_warnings(caplog, plugin)
        assert warnings and all("escaped-child-token-abc" not in w for w in warnings)


async def test_a_plugin_that_failed_and_exited_reports_its_exit_code_while_a_setsid_child_holds_its_pipes(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    plugin = escaping_plugin(
        make_plugin, pidfile, holds="both", then="sys.stderr.write('no profile\\n'); sys.exit(3)"
    )
    with escaped_child_killed_after(pidfile):
        with anyio.fail_after(CEILING), pytest.raises(ExecPluginError) as info:
            await ExecTokenSource(ExecConfig(command=plugin), timeout=TIMEOUT).fetch()
    assert info.value.exit_code == 3 and "no profile" in str(info.value)


async def test_registration_with_a_plugin_whose_setsid_child_holds_stdout_succeeds_and_the_cluster_answers(
    eks_lab: EKSLab, make_plugin: Callable[[str], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pidfile = tmp_path / "pids"
    token = eks_lab.static_token("lab")
    credential = json.dumps(
        {
            "kind": "ExecCredential",
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "status": {"token": token},
        }
    )
    plugin = escaping_plugin(make_plugin, pidfile, holds="both", then=f"print({credential!r}, flush=True)")
    text = eks_lab.kubeconfig("lab", exec_command=plugin, exec_args=[], env=None)
    with escaped_child_killed_after(pidfile):
        async with Clusters() as clusters:
            with anyio.fail_after(CEILING):
                kubectl = await clusters.register_by_string(text, cluster_id="held", exec_timeout=TIMEOUT)
            names = [ns.metadata.name for ns in (await CoreV1Api(kubectl.api_client).list_namespace()).items]
            assert "default" in names
        assert left_running_warnings(caplog, plugin)
        assert all(token not in r.getMessage() for r in caplog.records)


async def test_registration_with_a_hanging_plugin_whose_setsid_child_holds_stdout_fails_at_the_exec_timeout(
    eks_lab: EKSLab, make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    plugin = escaping_plugin(make_plugin, pidfile, holds="stdout", then="time.sleep(600)")
    text = eks_lab.kubeconfig("lab", exec_command=plugin, exec_args=[], env=None)
    with escaped_child_killed_after(pidfile):
        async with Clusters() as clusters:
            with anyio.fail_after(CEILING), pytest.raises(ExecPluginError, match="did not finish within 2 s"):
                await clusters.register_by_string(text, cluster_id="held", exec_timeout=TIMEOUT)
            assert "held" not in clusters
        assert pids_alive([int(pidfile.read_text().split()[0])]) == []


async def test_a_large_credential_written_just_before_the_exit_is_read_whole_while_a_setsid_child_holds_stdout(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    """What the plugin wrote is in the pipe when it exits: all of it is read, none is waited for."""
    pidfile = tmp_path / "pids"
    padded = CREDENTIAL[:-1] + ', "padding": "' + "x" * 900_000 + '"}'
    plugin = escaping_plugin(
        make_plugin,
        pidfile,
        holds="stdout",
        then=f"sys.stdout.write({padded!r}); sys.stdout.flush(); os._exit(0)",
    )
    with escaped_child_killed_after(pidfile):
        with anyio.fail_after(CEILING):
            token = await ExecTokenSource(ExecConfig(command=plugin), timeout=TIMEOUT).fetch()
    assert token.value == "escaped-child-token-abc"


async def test_cancelling_a_fetch_whose_plugin_has_a_setsid_child_on_its_pipes_returns_at_once(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    plugin = escaping_plugin(make_plugin, pidfile, holds="both", then="time.sleep(600)")
    fds = open_fds()
    with escaped_child_killed_after(pidfile):
        task = asyncio.create_task(ExecTokenSource(ExecConfig(command=plugin), timeout=120).fetch())
        while not pidfile.exists():
            await asyncio.sleep(0.02)
        task.cancel()
        with anyio.fail_after(CEILING), pytest.raises(asyncio.CancelledError):
            await task
        assert pids_alive([int(pidfile.read_text().split()[0])]) == []
        assert open_fds() == fds

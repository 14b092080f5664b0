"""Exec credential plugins, run as real processes: fast, slow, failing, garbage, floods, hangs."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from auth_helpers import pids_alive

from kom_async.auth.exec import ExecTokenSource
from kom_async.config.kubeconfig import ExecConfig
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, ExecPluginError

V1B1 = "client.authentication.k8s.io/v1beta1"
V1 = "client.authentication.k8s.io/v1"

GOOD = """
import json, os, datetime
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
exp = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({"kind": "ExecCredential", "apiVersion": info["apiVersion"],
                  "status": {"token": "plugin-token-" + os.environ.get("EXTRA", "x"), "expirationTimestamp": exp}}))
"""


def source(path: str, *, eks: bool = False, timeout: float = 10.0, **kw: object) -> ExecTokenSource:
    return ExecTokenSource(ExecConfig(command=path, **kw), timeout=timeout, eks=eks)  # type: ignore[arg-type]


async def test_a_plugin_token_and_expiry_are_read_and_env_is_layered(make_plugin: Callable[[str], str]) -> None:
    src = source(make_plugin(GOOD), env={"EXTRA": "fromkubeconfig"})
    token = await src.fetch()
    assert token.value == "plugin-token-fromkubeconfig"
    assert token.expires_at is not None


async def test_exec_info_carries_api_version_interactive_and_cluster(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    dump = tmp_path / "info.json"
    plugin = make_plugin(
        f"""
import os, json
open({str(dump)!r}, "w").write(os.environ["KUBERNETES_EXEC_INFO"])
print(json.dumps({{"kind": "ExecCredential", "apiVersion": "{V1}", "status": {{"token": "t"}}}}))
"""
    )
    src = ExecTokenSource(
        ExecConfig(command=plugin, api_version=V1, provide_cluster_info=True),
        cluster_info={"server": "https://example:6443", "certificate-authority-data": "Q0E="},
    )
    token = await src.fetch()
    assert token.expires_at is None  # no expiry: cached until a 401
    info = json.loads(dump.read_text())
    assert info["apiVersion"] == V1
    assert info["spec"]["interactive"] is False
    assert info["spec"]["cluster"] == {"server": "https://example:6443", "certificate-authority-data": "Q0E="}


async def test_a_failing_plugin_reports_command_exit_code_and_stderr_but_no_install_hint(
    make_plugin: Callable[[str], str],
) -> None:
    plugin = make_plugin("import sys\nsys.stderr.write('boom: no profile\\n')\nsys.exit(3)\n")
    src = source(plugin, install_hint="Install it with: pip install widget")
    with pytest.raises(ExecPluginError) as info:
        await src.fetch()
    msg = str(info.value)
    assert os.path.basename(plugin) in msg and "code 3" in msg and "boom: no profile" in msg
    assert "pip install widget" not in msg  # client-go: the hint is for a missing command only
    assert info.value.exit_code == 3


async def test_an_eks_plugin_failure_is_an_eks_auth_error_of_kind_exec_failed(
    make_plugin: Callable[[str], str],
) -> None:
    src = source(make_plugin("import sys; sys.exit(1)"), eks=True)
    with pytest.raises(EKSAuthError) as info:
        await src.fetch()
    assert info.value.kind is EKSAuthErrorKind.ExecFailed


async def test_a_missing_command_says_so() -> None:
    with pytest.raises(ExecPluginError, match="not found on PATH"):
        await source("kom-async-no-such-plugin-xyz").fetch()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("print('hello, not json')", "not JSON"),
        ("print('[1, 2]')", "not a JSON object"),
        (f"import json; print(json.dumps({{'kind': 'Other', 'apiVersion': '{V1B1}'}}))", "kind"),
        (f"import json; print(json.dumps({{'kind': 'ExecCredential', 'apiVersion': '{V1}', 'status': {{'token': 't'}}}}))", "apiVersion"),
        (f"import json; print(json.dumps({{'kind': 'ExecCredential', 'apiVersion': '{V1B1}', 'status': {{}}}}))", "no status.token"),
        (f"import json; print(json.dumps({{'kind': 'ExecCredential', 'apiVersion': '{V1B1}', 'status': {{'token': 't', 'expirationTimestamp': 'tomorrow'}}}}))", "not an RFC 3339"),
        (f"import json; print(json.dumps({{'kind': 'ExecCredential', 'apiVersion': '{V1B1}', 'status': {{'token': 't', 'expirationTimestamp': '2001-01-01T00:00:00Z'}}}}))", "already expired"),
    ],
)
async def test_garbage_output_gets_a_clear_error(make_plugin: Callable[[str], str], body: str, reason: str) -> None:
    with pytest.raises(ExecPluginError, match=reason):
        await source(make_plugin(body)).fetch()


async def test_a_megabyte_of_stderr_does_not_deadlock(make_plugin: Callable[[str], str]) -> None:
    plugin = make_plugin("import sys\nsys.stderr.write('e' * (1024 * 1024))\nsys.stderr.flush()\n" + GOOD)
    token = await asyncio.wait_for(source(plugin).fetch(), 20)
    assert token.value.startswith("plugin-token")


async def test_a_hanging_plugin_and_its_children_are_killed_and_reaped_at_the_timeout(
    make_plugin: Callable[[str], str], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    plugin = make_plugin(
        f"""
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open({str(pidfile)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(600)
"""
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ExecPluginError, match="did not finish within 1 s"):
        await source(plugin, timeout=1.0).fetch()
    assert loop.time() - started < 5
    pids = [int(p) for p in pidfile.read_text().split()]
    await asyncio.sleep(0.2)
    assert pids_alive(pids) == []  # neither a zombie (reaped) nor an orphan (group killed)


async def test_cancelling_a_fetch_kills_the_plugin(make_plugin: Callable[[str], str], tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    plugin = make_plugin(f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n")
    task = asyncio.create_task(source(plugin).fetch())
    while not pidfile.exists() or not pidfile.read_text():
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pids_alive([int(pidfile.read_text())]) == []


async def test_interactive_always_plugins_are_refused_up_front() -> None:
    with pytest.raises(ExecPluginError, match="interactive"):
        ExecTokenSource(ExecConfig(command="x", interactive_mode="Always"))


async def test_a_token_echoed_on_stderr_is_redacted_from_the_error(make_plugin: Callable[[str], str]) -> None:
    plugin = make_plugin("import sys\nsys.stderr.write('got k8s-aws-v1.aHR0cHM6Ly9zdHMu then failed')\nsys.exit(2)\n")
    with pytest.raises(ExecPluginError) as info:
        await source(plugin).fetch()
    assert "aHR0cHM6Ly9zdHMu" not in str(info.value)
    assert "<redacted>" in str(info.value)

"""Exec plugins behave as client-go runs them: one test per row of docs/exec.md."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from kom_async.auth.exec import ExecTokenSource
from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.errors import ExecPluginError, KubeconfigError

V1B1 = "client.authentication.k8s.io/v1beta1"
V1 = "client.authentication.k8s.io/v1"
PLUGIN = """\
import json
print(json.dumps({"kind": "ExecCredential", "apiVersion": "%s", "status": {"token": "from-plugin"}}))
"""


def kubeconfig(exec_block: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"exec": exec_block}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


def write_plugin(path: Path, api_version: str = V1B1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(PLUGIN % api_version))
    path.chmod(0o755)
    return path


async def fetch_from(path: Path) -> str:
    selection = load_kubeconfig(path)
    assert selection.auth.exec is not None
    return (await ExecTokenSource(selection.auth.exec).fetch()).value


async def test_a_relative_command_with_a_slash_runs_from_the_kubeconfig_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plugin(tmp_path / "kube" / "bin" / "plugin")
    path = tmp_path / "kube" / "config"
    path.write_text(yaml.safe_dump(kubeconfig({"apiVersion": V1B1, "command": "./bin/plugin"})))
    monkeypatch.chdir(tmp_path)  # not where the plugin is: the kubeconfig's folder decides
    assert await fetch_from(path) == "from-plugin"
    assert load_kubeconfig(path).auth.exec.command == str(tmp_path / "kube" / "bin" / "plugin")  # type: ignore[union-attr]


async def test_a_bare_command_name_is_looked_up_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_plugin(tmp_path / "bin" / "my-plugin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    path = tmp_path / "elsewhere" / "config"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(kubeconfig({"apiVersion": V1B1, "command": "my-plugin"})))
    assert load_kubeconfig(path).auth.exec.command == "my-plugin"  # type: ignore[union-attr]
    assert await fetch_from(path) == "from-plugin"


async def test_an_absolute_command_runs_as_written(tmp_path: Path) -> None:
    plugin = write_plugin(tmp_path / "abs" / "plugin")
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(kubeconfig({"apiVersion": V1B1, "command": str(plugin)})))
    assert await fetch_from(path) == "from-plugin"


def test_a_missing_api_version_is_rejected_as_client_go_does() -> None:
    with pytest.raises(KubeconfigError, match="apiVersion must be specified for user 'u'") as caught:
        load_kubeconfig(yaml.safe_dump(kubeconfig({"command": "x"})))
    assert caught.value.field == "users[u].user.exec.apiVersion"


def test_only_v1_and_v1beta1_are_accepted() -> None:
    with pytest.raises(KubeconfigError, match="not supported"):
        load_kubeconfig(yaml.safe_dump(kubeconfig({"command": "x", "apiVersion": "client.authentication.k8s.io/v1alpha1"})))


def test_v1_needs_an_interactive_mode_and_v1beta1_defaults_to_if_available() -> None:
    with pytest.raises(KubeconfigError, match="interactiveMode must be specified for user 'u'"):
        load_kubeconfig(yaml.safe_dump(kubeconfig({"command": "x", "apiVersion": V1})))
    v1 = load_kubeconfig(yaml.safe_dump(kubeconfig({"command": "x", "apiVersion": V1, "interactiveMode": "Never"})))
    assert v1.auth.exec is not None and v1.auth.exec.interactive_mode == "Never"
    beta = load_kubeconfig(yaml.safe_dump(kubeconfig({"command": "x", "apiVersion": V1B1})))
    assert beta.auth.exec is not None and beta.auth.exec.interactive_mode == "IfAvailable"
    with pytest.raises(KubeconfigError, match="not one of Never, IfAvailable, Always"):
        load_kubeconfig(yaml.safe_dump(kubeconfig({"command": "x", "apiVersion": V1, "interactiveMode": "Sometimes"})))


def test_an_env_entry_needs_a_name() -> None:
    with pytest.raises(KubeconfigError, match=r"env\[0\]"):
        load_kubeconfig(yaml.safe_dump(kubeconfig({"command": "x", "apiVersion": V1B1, "env": [{"value": "v"}]})))


async def test_the_install_hint_is_shown_only_when_the_command_cannot_be_found(tmp_path: Path) -> None:
    hint = "Install it: brew install my-plugin"
    block = {"apiVersion": V1B1, "installHint": hint}
    missing = load_kubeconfig(yaml.safe_dump(kubeconfig({**block, "command": "kom-async-no-such-plugin"})))
    with pytest.raises(ExecPluginError) as caught:
        await ExecTokenSource(missing.auth.exec).fetch()  # type: ignore[arg-type]
    assert hint in str(caught.value) and "not found on PATH" in str(caught.value)
    failing = tmp_path / "failing"
    failing.write_text(f"#!{sys.executable}\nimport sys; sys.exit(2)\n")
    failing.chmod(0o755)
    broken = load_kubeconfig(yaml.safe_dump(kubeconfig({**block, "command": str(failing)})))
    with pytest.raises(ExecPluginError) as caught:
        await ExecTokenSource(broken.auth.exec).fetch()  # type: ignore[arg-type]
    assert "exited with code 2" in str(caught.value) and hint not in str(caught.value)


async def test_a_missing_path_says_the_file_does_not_exist_not_path(tmp_path: Path) -> None:
    gone = tmp_path / "bin" / "gone"
    selection = load_kubeconfig(yaml.safe_dump(kubeconfig({"apiVersion": V1B1, "command": str(gone), "installHint": "get it"})))
    with pytest.raises(ExecPluginError) as caught:
        await ExecTokenSource(selection.auth.exec).fetch()  # type: ignore[arg-type]
    message = str(caught.value)
    assert str(gone) in message and "does not exist" in message and "PATH" not in message
    assert "get it" in message


async def test_a_client_certificate_credential_is_refused_with_the_reason(tmp_path: Path) -> None:
    plugin = tmp_path / "cert-plugin"
    plugin.write_text(
        f"#!{sys.executable}\nimport json\n"
        f"print(json.dumps({{'kind': 'ExecCredential', 'apiVersion': '{V1B1}', "
        "'status': {'clientCertificateData': 'PEM', 'clientKeyData': 'KEY'}}))\n"
    )
    plugin.chmod(0o755)
    selection = load_kubeconfig(yaml.safe_dump(kubeconfig({"apiVersion": V1B1, "command": str(plugin)})))
    with pytest.raises(ExecPluginError, match="client certificate; only token credentials are supported"):
        await ExecTokenSource(selection.auth.exec).fetch()  # type: ignore[arg-type]


def test_every_row_of_the_conformance_table_names_tests_that_exist() -> None:
    import re

    root = Path(__file__).resolve().parents[2]
    table = (root / "docs" / "exec.md").read_text()
    rows = [line for line in table.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) >= 17
    for row in rows:
        refs = re.findall(r"`(?:(tests/[\w/]+\.py)::|([\w]+\.py)::)?(test_\w+)`", row)
        assert refs, row
        for path, short, name in refs:
            found = list(root.glob(path or f"tests/**/{short}"))
            assert found and any(f"def {name}(" in f.read_text() for f in found), (row, name)

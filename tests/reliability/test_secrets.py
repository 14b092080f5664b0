"""Secrets stay secret: reprs and strs of every public object, error messages, files on disk,
and TLS verification that cannot be switched off without a warning.

The suite-wide leak detector (tests/leakcheck.py) already scans every log record at DEBUG;
this module checks what a user can print, and the conftest checks every KomError built.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import CoreV1Api
from leakcheck import detector
from reliability_helpers import exception_texts, write_plugin

from kom_async import Clusters
from kom_async.auth.token import Token
from kom_async.config.kubeconfig import ExecConfig, load_kubeconfig
from kom_async.errors import EKSAuthError, ExecPluginError, KomError
from kom_async.lab import EKSLab


def shown(objects: Iterable[object]) -> list[str]:
    out = []
    for obj in objects:
        out += [repr(obj), str(obj)]
    return out


def assert_hidden(texts: Iterable[str], secrets: Iterable[str]) -> None:
    secrets = [s for s in secrets if s]
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}...) is shown in: {text[:200]}"
        assert detector.find(text) is None, text[:200]


async def test_no_public_object_shows_a_token_a_key_or_a_password(lab: EKSLab, tmp_path: Path) -> None:
    await lab.create_cluster("sec")
    env = lab.aws_env
    secret_key = env["AWS_SECRET_ACCESS_KEY"]
    role = await lab.create_role("sec-role", map_as="sec-role-user")
    token_file = tmp_path / "token"
    token_file.write_text("file-token-value-123456")
    lab.add_static_token("sec", "file-token-value-123456")
    basic = yaml.safe_load(lab.kubeconfig("sec", static_token=True))
    basic["users"][0]["user"] = {"username": "admin", "password": "basic-password-987654"}
    by_file = lab.kubeconfig("sec", static_token="placeholder").replace(
        "token: placeholder", f"tokenFile: {token_file}"
    )
    async with Clusters() as clusters:
        await clusters.register_eks_by_string(lab.kubeconfig("sec"), cluster_id="native")
        await clusters.register_eks_by_string(lab.kubeconfig("sec", role_arn=role), cluster_id="role")
        await clusters.register_by_string(lab.kubeconfig("sec"), cluster_id="exec", token_source="exec")
        await clusters.register_by_string(lab.kubeconfig("sec", static_token=True), cluster_id="static")
        await clusters.register_by_string(by_file, cluster_id="file")
        await clusters.register_by_string(basic, cluster_id="basic")
        objects: list[object] = [clusters]
        tokens = []
        for cid in clusters:
            cluster = clusters.get(cid)
            objects += [cluster, cluster.kubectl, cluster.api_client, cluster.api_client.auth, cluster.eks]
            objects += [cluster.auth_stats, cluster.api_client.retry_policy, cluster.api_client.configuration]
            provider = cluster.token_provider
            if provider is not None:
                objects += [provider, provider.source, provider.token]
                assert provider.token is not None
                tokens.append(provider.token.value)
            if cluster.eks is not None and cluster.eks.exec_config is not None:
                objects.append(cluster.eks.exec_config)
        objects.append(load_kubeconfig(lab.kubeconfig("sec")))
        objects.append(load_kubeconfig(basic))
        objects.append(ExecConfig(command="aws", env={"AWS_SECRET_ACCESS_KEY": secret_key}))
        assert len(tokens) == 5 and all(len(t) > 16 for t in tokens)
        assert any(t.startswith("k8s-aws-v1.") for t in tokens)
        assert_hidden(
            shown(objects),
            [
                *tokens,
                secret_key,
                "basic-password-987654",
                lab.static_token("sec"),
                "file-token-value-123456",
            ],
        )
        # the Authorization header is built per request, never kept in the configuration
        for cid in clusters:
            config = clusters.get(cid).api_client.configuration
            assert not config.api_key and "Authorization" not in clusters.get(cid).api_client.default_headers


async def test_a_plugin_that_echoes_its_secrets_on_stderr_does_not_put_them_in_the_error(
    lab: EKSLab, tmp_path: Path
) -> None:
    await lab.create_cluster("echo")
    secret_key = lab.aws_env["AWS_SECRET_ACCESS_KEY"]
    body = (
        "import os, sys\n"
        "sys.stderr.write('debug: key=' + os.environ['AWS_SECRET_ACCESS_KEY'] + ' session='"
        " + os.environ.get('MY_SESSION_TOKEN', '') + '\\n')\n"
        "sys.exit(1)\n"
    )
    plugin = write_plugin(tmp_path, "aws-iam-authenticator", body)
    env = {**lab.aws_env, "MY_SESSION_TOKEN": "session-token-value-0042"}
    text = lab.kubeconfig("echo", exec_command=plugin, exec_args=["token", "-i", "echo"], env=env)
    async with Clusters() as clusters:
        with pytest.raises(EKSAuthError) as info:
            await clusters.register_by_string(text, cluster_id="echo", token_source="exec")
        assert "exited with code 1" in str(info.value)
        assert_hidden(exception_texts(info.value), [secret_key, "session-token-value-0042"])
        plain_plugin = write_plugin(tmp_path, "plain-plugin", body)
        plain = lab.kubeconfig("echo", exec_command=plain_plugin, exec_args=[], env=env)
        with pytest.raises(ExecPluginError) as pinfo:
            await clusters.register_by_string(plain, cluster_id="echo2")
        assert_hidden([*exception_texts(pinfo.value), pinfo.value.stderr or ""], [secret_key])


async def test_errors_about_tokens_never_quote_them(lab: EKSLab) -> None:
    await lab.create_cluster("quiet")
    async with Clusters() as clusters:
        k = await clusters.register_eks_by_string(lab.kubeconfig("quiet"), cluster_id="quiet")
        provider = clusters.get("quiet").token_provider
        assert provider is not None and provider.token is not None
        value = provider.token.value
        lab.unmap(lab.admin_arn)
        with pytest.raises(KomError) as info:
            await CoreV1Api(k.api_client).list_namespace()
        assert_hidden(exception_texts(info.value), [value])
        assert value not in repr(Token(value)) and value not in f"{Token(value)}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_kubeconfig_and_env_files_the_lab_writes_are_private(lab: EKSLab, tmp_path: Path) -> None:
    await lab.create_cluster("files")
    old_umask = os.umask(0o022)
    try:
        existing = tmp_path / "existing-kubeconfig"
        existing.write_text("old")
        existing.chmod(0o644)
        for path in (
            lab.write_kubeconfig(tmp_path / "kubeconfig", "files"),
            lab.write_kubeconfig(existing, "files"),
            lab.write_env_file(tmp_path / "aws.env"),
        ):
            assert mode(path) == 0o600, path
        lab.add_profile("p1")
        for name in ("config", "credentials"):
            assert (
                mode(Path(lab.aws_env[f"AWS_{'CONFIG' if name == 'config' else 'SHARED_CREDENTIALS'}_FILE"]))
                == 0o600
            )
    finally:
        os.umask(old_umask)


async def test_the_lab_cli_writes_its_kubeconfig_and_env_file_with_mode_0600(tmp_path: Path) -> None:
    out = tmp_path / "lab-out"
    out.mkdir()
    (out / "kubeconfig").write_text("stale")
    (out / "kubeconfig").chmod(0o644)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kom_async.cli",
        "lab",
        "--dir",
        str(out),
        "--duration",
        "0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()[-500:]
    assert b"kubeconfig:" in stdout
    assert mode(out / "kubeconfig") == 0o600 and mode(out / "aws.env") == 0o600
    assert "clusters" in yaml.safe_load((out / "kubeconfig").read_text())


async def test_tls_verification_is_off_only_through_the_kubeconfig_and_never_silently(
    lab: EKSLab, caplog: pytest.LogCaptureFixture
) -> None:
    await lab.create_cluster("tls")
    doc: dict[str, Any] = yaml.safe_load(lab.kubeconfig("tls", static_token=True))
    caplog.set_level(logging.WARNING)
    async with Clusters() as clusters:
        await clusters.register_by_string(doc, cluster_id="verified")
        assert not [r for r in caplog.records if "TLS verification is OFF" in r.getMessage()]
        ctx = clusters.get("verified").api_client.session.ssl_context()
        assert ctx.verify_mode.name == "CERT_REQUIRED" and ctx.check_hostname
        doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
        await clusters.register_by_string(doc, cluster_id="insecure")
        warnings = [r for r in caplog.records if "TLS verification is OFF" in r.getMessage()]
        assert len(warnings) == 1 and "insecure-skip-tls-verify" in warnings[0].getMessage()
        ctx = clusters.get("insecure").api_client.session.ssl_context()
        assert ctx.verify_mode.name == "CERT_NONE"
        # a string "true" is not a boolean: it is refused, not taken as "off"
        doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = "true"
        with pytest.raises(KomError, match="insecure-skip-tls-verify"):
            await clusters.register_by_string(doc, cluster_id="stringly")

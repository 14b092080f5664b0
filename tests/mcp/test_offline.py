"""The MCP server's pieces that need no cluster: kubeconfig safety, output shape, the key gate."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import pytest

from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.config.policy import ExecPolicy
from kom_async.errors import ExecNotAllowed
from kom_async.mcp.httpauth import BearerKeyMiddleware
from kom_async.mcp.output import compact, strip_userinfo, tail_text
from kom_async.mcp.server import main


def kubeconfig(user: dict[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
            "users": [{"name": "u", "user": user}],
        }
    )


def exec_user(command: str, *args: str) -> dict[str, Any]:
    return {
        "exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command, "args": list(args)}
    }


EKS_ARGS = ("--region", "us-east-1", "eks", "get-token", "--cluster-name", "c1")


def check(user: dict[str, Any], policy: ExecPolicy | None = None) -> None:
    (policy or ExecPolicy()).check_kubeconfig(load_kubeconfig(kubeconfig(user)))


def test_token_minting_plugins_and_plain_tokens_pass() -> None:
    check(exec_user("aws", *EKS_ARGS))
    check(exec_user("aws-iam-authenticator", "token", "-i", "c1"))
    check(exec_user("kom-async", "eks", "get-token", "--cluster-name", "c1"))
    check({"token": "abc"})


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        (exec_user("sh", "-c", "id"), "allowlist"),
        (exec_user("/tmp/aws", *EKS_ARGS), "allowlist"),  # a path is not the aws on PATH
        (exec_user("aws", "s3", "cp", "/etc/passwd", "s3://x"), "may only mint a token"),
        (exec_user("kom-async", "mcp"), "may only mint a token"),
        (
            {"exec": dict(exec_user("aws", *EKS_ARGS)["exec"], env=[{"name": "PATH", "value": "/tmp"}])},
            "may not set PATH",
        ),
        (
            {"exec": dict(exec_user("aws", *EKS_ARGS)["exec"], env=[{"name": "LD_PRELOAD", "value": "x"}])},
            "LD_PRELOAD",
        ),
    ],
)
def test_plugins_that_do_more_than_mint_a_token_are_refused(user: dict[str, Any], reason: str) -> None:
    with pytest.raises(ExecNotAllowed, match=reason):
        check(user)


def test_deny_all_refuses_even_aws_and_allow_exec_adds_a_command() -> None:
    with pytest.raises(ExecNotAllowed, match="disabled"):
        check(exec_user("aws", *EKS_ARGS), ExecPolicy(deny_all=True))
    check(exec_user("gke-gcloud-auth-plugin"), ExecPolicy({"aws", "gke-gcloud-auth-plugin"}))


def test_results_drop_managed_fields_and_last_applied_configuration() -> None:
    obj: dict[str, Any] = {
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "a"},
        },
    }
    assert json.loads(compact(obj)) == {
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"team": "a"}},
    }
    assert " " not in compact(obj)
    assert obj["metadata"]["managedFields"]  # the input is left alone


def test_server_urls_are_shown_without_credentials() -> None:
    assert strip_userinfo("https://admin:hunter2@k8s.example:6443/base") == "https://k8s.example:6443/base"
    assert strip_userinfo("https://k8s.example") == "https://k8s.example"


def test_long_logs_keep_the_newest_whole_lines() -> None:
    text = "".join(f"line {i}\n" for i in range(10_000))
    cut, was_cut = tail_text(text, 1000)
    assert was_cut and len(cut) <= 1000
    assert cut.startswith("line ") and cut.endswith("line 9999\n")
    assert tail_text("short", 1000) == ("short", False)


async def test_the_key_gate_answers_401_and_lets_the_right_key_through() -> None:
    seen: list[str] = []

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request"}

    gate = BearerKeyMiddleware(app, "s3cret")
    await gate({"type": "http", "headers": [(b"authorization", b"Bearer nope")]}, receive, send)
    assert sent[0]["status"] == 401 and seen == []
    await gate({"type": "http", "headers": [(b"authorization", b"Bearer s3cret")]}, receive, send)
    await gate({"type": "lifespan"}, receive, send)
    assert seen == ["http", "lifespan"]
    assert b"s3cret" not in b"".join(m.get("body", b"") for m in sent)


def test_http_on_a_public_address_needs_a_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KOM_ASYNC_MCP_AUTH_KEY", raising=False)
    assert main(["--transport", "http", "--host", "0.0.0.0"]) == 2
    assert "without a key" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--max-clusters", "-1"], "--max-clusters"),
        (["--max-request-body", "0"], "--max-request-body"),
        (["--header-timeout", "0"], "--header-timeout"),
        (["--max-connections", "0"], "--max-connections"),
        (["--max-connections", "100000000"], "ulimit -n"),
    ],
)
def test_limit_flags_out_of_range_exit_2_naming_the_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert flag in capsys.readouterr().err

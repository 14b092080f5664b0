"""``kom-async eks get-token``: the same ExecCredential as ``aws eks get-token``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from eks_helpers import ACCESS_KEY, SECRET_KEY, decode_token, signing_time, url_parts

from kom_async.cli.eks import exec_api_version, main


def test_get_token_prints_an_exec_credential(
    static_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["get-token", "--cluster-name", "c1", "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    credential = json.loads(out)
    assert list(credential) == ["kind", "apiVersion", "spec", "status"]
    assert credential["kind"] == "ExecCredential"
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert credential["spec"] == {}
    expiration = credential["status"]["expirationTimestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expiration)
    url = decode_token(credential["status"]["token"])
    host, query = url_parts(url)[1], url_parts(url)[3]
    assert host == "sts.eu-west-1.amazonaws.com"
    assert query["X-Amz-Credential"].startswith(ACCESS_KEY + "/")
    signed = signing_time(url)
    assert datetime.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) == signed + timedelta(
        minutes=14
    )
    assert abs(datetime.now(UTC) - signed) < timedelta(minutes=1)
    assert SECRET_KEY not in out


def test_a_leading_eks_word_and_cluster_id_are_accepted(
    static_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eks", "get-token", "--cluster-id", "0123-outpost", "--region", "us-east-1"]) == 0
    credential = json.loads(capsys.readouterr().out)
    assert credential["status"]["token"].startswith("k8s-aws-v1.")


@pytest.mark.parametrize(
    ("exec_info", "version"),
    [
        ('{"apiVersion": "client.authentication.k8s.io/v1"}', "client.authentication.k8s.io/v1"),
        ('{"apiVersion": "client.authentication.k8s.io/v1beta1"}', "client.authentication.k8s.io/v1beta1"),
        ('{"apiVersion": "client.authentication.k8s.io/v9"}', "client.authentication.k8s.io/v1beta1"),
        ("not json", "client.authentication.k8s.io/v1beta1"),
        ("", "client.authentication.k8s.io/v1beta1"),
    ],
)
def test_the_api_version_is_echoed_from_kubernetes_exec_info(
    exec_info: str,
    version: str,
    static_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KUBERNETES_EXEC_INFO", exec_info)
    assert exec_api_version()[0] == version
    assert main(["get-token", "--cluster-name", "c1", "--region", "us-east-1"]) == 0
    assert json.loads(capsys.readouterr().out)["apiVersion"] == version


@pytest.mark.parametrize(
    "argv",
    [
        ["get-token"],
        ["get-token", "--cluster-name", "a", "--cluster-id", "b"],
        ["get-token", "--cluster-name"],
        ["get-token", "--bogus", "x"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_mistakes_exit_2_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2  # like every kom-async command
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error" in captured.err
    assert "Traceback" not in captured.err


def test_no_credentials_exit_1_without_a_traceback(no_credentials_env: dict[str, str]) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kom_async.cli",
            "eks",
            "get-token",
            "--cluster-name",
            "c",
            "--region",
            "us-east-1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "AWSConfigMissing" in done.stderr
    assert "Traceback" not in done.stderr


def test_start_up_is_lean(static_env: dict[str, str]) -> None:
    """The plugin imports neither kubernetes_asyncio nor the kubeconfig machinery."""
    code = (
        "import sys, io, contextlib\n"
        "from kom_async.cli.eks import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['get-token', '--cluster-name', 'c', '--region', 'us-east-1'])\n"
        "heavy = [m for m in ('kubernetes_asyncio', 'yaml', 'kom_async.config.kubeconfig', 'aiohttp.web') if m in sys.modules]\n"
        "print(rc, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "0 []", done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["get-token", "--cluster-name", "c", "--region", "us-east-1"],
        ["get-token", "--cluster-id=abc", "--region=eu-west-1", "--no-cache"],
        ["get-token", "--cluster-name", "c", "--role-arn", "arn:aws:iam::1:role/r", "--profile", "p", "--output", "json"],
        ["get-token", "--no-cache", "--cluster-name", "a", "--cluster-name", "b"],
    ],
)
def test_the_quick_reader_reads_the_usual_command_line_as_argparse_does(argv: list[str]) -> None:
    from kom_async.cli.eks import _parser, _quick_args

    quick = _quick_args(argv)
    assert quick is not None
    assert vars(quick) == vars(_parser().parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [["get-token", "--help"], ["get-token", "--cluster"], ["get-token", "--region"], ["get-token", "--output", "text"], ["other"]],
)
def test_anything_unusual_is_left_to_argparse(argv: list[str]) -> None:
    from kom_async.cli.eks import _quick_args

    assert _quick_args(argv) is None

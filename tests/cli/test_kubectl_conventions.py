"""``kom-async`` as kubectl users expect it: ``-o name`` as kind/name, upper-case headers and
``--no-headers``, ``--context``, examples in every ``--help``, a hint on 401/403 rows, usage
errors (bad numbers included) that exit 2 naming the flag, and tables that fit 80 columns.
Run as real subprocesses against lab clusters and a port nobody listens on."""

from __future__ import annotations

import argparse
import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from kom_async.cli import clusters as clusters_cli
from kom_async.cli import eks as eks_cli
from kom_async.lab import cli as lab_cli
from kom_async.lab import demo
from kom_async.mcp import server as mcp_server

UNREACHABLE = """
apiVersion: v1
kind: Config
current-context: {first}
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:9"}}}}]
users: [{{name: u, user: {{token: not-a-real-token}}}}]
contexts:
{contexts}
"""


def kubeconfig(path: Path, *contexts: str) -> Path:
    body = "\n".join(f"- {{name: {c}, context: {{cluster: c, user: u}}}}" for c in contexts)
    path.write_text(UNREACHABLE.format(first=contexts[0], contexts=body))
    return path


def env(home: Path, **extra: str) -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR", "COLUMNS")}
    found.update(HOME=str(home), **extra)
    return found


def kom(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kom_async.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def test_no_headers_prints_only_the_rows(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "dev.yaml", "dev")
    done = kom(
        "clusters",
        "check",
        "--kubeconfig",
        str(config),
        "--timeout",
        "5",
        "--no-headers",
        environ=env(tmp_path),
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dev ") and "127.0.0.1:9" in lines[0]


def test_context_picks_one_context_of_a_file_or_of_the_default_kubeconfig(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "multi.yaml", "alpha", "beta")
    done = kom(
        "clusters",
        "check",
        "--kubeconfig",
        str(config),
        "--context",
        "beta",
        "--json",
        "--timeout",
        "5",
        environ=env(tmp_path),
    )
    [cluster] = json.loads(done.stdout)["clusters"]
    assert (cluster["id"], cluster["context"]) == ("multi", "beta")

    with_default = env(tmp_path, KUBECONFIG=str(config))
    done = kom("clusters", "check", "--context", "beta", "-o", "name", "--timeout", "5", environ=with_default)
    assert done.stdout.split() == ["cluster/beta"]

    done = kom("clusters", "check", "--context", "nosuch", environ=with_default)
    assert done.returncode == 2 and done.stdout == ""
    assert "--context nosuch" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["clusters", "check", "--timeout", "0"], "--timeout"),
        (["clusters", "check", "--timeout", "-3"], "--timeout"),
        (["clusters", "check", "--timeout", "nan"], "--timeout"),
        (["clusters", "check", "--timeout", "inf"], "--timeout"),
        (["clusters", "check", "--timeout", "soon"], "--timeout"),
        (["clusters", "check", "--concurrency", "0"], "--concurrency"),
        (["clusters", "check", "--concurrency", "2.5"], "--concurrency"),
        (["lab", "--duration", "0"], "--duration"),
        (["lab", "--clusters", "many"], "--clusters"),
    ],
)
def test_a_bad_number_is_a_usage_error_naming_the_flag(argv: list[str], flag: str, tmp_path: Path) -> None:
    done = kom(*argv, environ=env(tmp_path))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert flag in done.stderr and "Traceback" not in done.stderr and done.stdout == ""
    assert "exec_timeout" not in done.stderr  # the flag's name, not an internal one


def every_parser() -> list[argparse.ArgumentParser]:
    roots = [
        clusters_cli._parser(),
        eks_cli._parser(),
        lab_cli._parser(),
        demo._parser(),
        mcp_server.build_parser(),
    ]
    found: list[argparse.ArgumentParser] = []
    for root in roots:
        found.append(root)
        for action in root._actions:
            if isinstance(action, argparse._SubParsersAction):
                found += action.choices.values()
    return found


@pytest.mark.parametrize("parser", every_parser(), ids=lambda p: p.prog)
def test_every_command_and_subcommand_help_has_a_description_and_examples(
    parser: argparse.ArgumentParser,
) -> None:
    text = parser.format_help()
    assert parser.description and len(parser.description) > 20, parser.prog
    assert "examples:" in text
    examples = text.split("examples:", 1)[1]
    assert any(line.strip().startswith(("kom-async ", "source ")) for line in examples.splitlines())
    # an example uses only flags the command has
    command = parser.prog.split()[1]
    flags = {
        s
        for p in every_parser()
        if p.prog.split()[1] == command
        for a in p._actions
        for s in a.option_strings
    }
    for line in examples.splitlines():
        if "kom-async " in line:
            command_line = line[line.index("kom-async ") :]
            used = set(re.findall(r"(?<!\S)(--?[a-z][a-z-]*)", command_line))
            assert used <= flags, (parser.prog, used - flags)


def test_eks_get_token_help_says_what_it_does() -> None:
    done = kom("eks", "get-token", "--help")
    assert done.returncode == 0
    assert (
        "ExecCredential" in done.stdout and "aws eks get-token" in done.stdout and "examples:" in done.stdout
    )


async def test_a_401_row_says_what_to_check(kubeconfig_dir: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await clusters_cli.amain(
        ["check", "--kubeconfig", str(kubeconfig_dir / "revoked.yaml"), "--json"], stdout=out, stderr=err
    )
    assert code == 1
    [row] = json.loads(out.getvalue())["clusters"]
    assert row["error"].startswith("HTTP 401 Unauthorized: the server refused the credentials; check")
    assert "revoked-or-never-valid" not in out.getvalue()


def test_a_403_row_says_what_to_check() -> None:
    text = clusters_cli._describe(ApiException(status=403, reason="Forbidden"))
    assert text.startswith("HTTP 403 Forbidden: the credentials were accepted")
    assert "kubectl auth can-i" in text and "access entry" in text


def test_on_an_80_column_terminal_the_table_fits(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "a-cluster-with-a-long-name.yaml", "dev")
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kom_async.cli", "clusters", "check", "--kubeconfig", str(config), "--timeout", "5"],
            stdout=follower, stderr=subprocess.DEVNULL, env=env(tmp_path, COLUMNS="80", LINES="40"),
        )  # fmt: skip
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 1
    finally:
        os.close(leader)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    header = next(line for line in lines if line.lstrip().startswith("ID"))
    assert header.split()[0] == "ID" and header.split()[-1] == "ERROR"  # one line, nothing folded
    row = next(line for line in lines if line.lstrip().startswith("a-cluster-with-a-long-name"))
    assert "cannot reach" in row  # the error starts on the cluster's line and folds below
    # the columns left out are named, with where to see them
    assert lines[-1].startswith("0 ok, 1 failed (") and "hidden to fit; -o json shows all)" in lines[-1]

"""Every kom-async command behaves like a CLI: exit 2 for usage errors, 1 for failures, 0 for
success; help on every option; plain text when piped, rich only on a terminal; -o formats;
the default kubeconfig found as kubectl finds it. Run as real subprocesses."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def env_without_kubeconfig(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env.update(HOME=str(home), COLUMNS="200", **extra)
    return env


def kom(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kom_async.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["demo", "--no-such-flag"],
        ["lab", "--clusters", "many"],
        ["eks", "get-token"],
        ["eks", "get-token", "--cluster-name", "a", "--cluster-id", "b"],
        ["mcp", "--transport", "carrier-pigeon"],
        ["clusters", "check", "-o", "xml"],
        ["clusters", "check", "--json", "-o", "yaml", "--kubeconfig", "x"],
        ["clusters"],
    ],
)
def test_every_usage_error_exits_2_with_a_message_and_no_traceback(argv: list[str], tmp_path: Path) -> None:
    done = kom(*argv, env=env_without_kubeconfig(tmp_path))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip() and "Traceback" not in done.stderr
    assert done.stdout == ""


def parsers() -> list[argparse.ArgumentParser]:
    return [
        clusters_cli._parser(),
        eks_cli._parser(),
        lab_cli._parser(),
        demo._parser(),
        mcp_server.build_parser(),
    ]


def walk(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += walk(sub)
        elif not isinstance(action, argparse._HelpAction):
            found.append((parser.prog, action))
    return found


def test_every_option_of_every_command_has_help() -> None:
    missing = [
        f"{prog} {'/'.join(action.option_strings) or action.dest}"
        for parser in parsers()
        for prog, action in walk(parser)
        if not action.help
    ]
    assert missing == []


def test_demo_help_is_plain_prose() -> None:
    done = kom("demo", "--help")
    assert done.returncode == 0
    assert "``" not in done.stdout and "::" not in done.stdout
    assert "--cluster-name NAME" in done.stdout and "--region REGION" in done.stdout


def test_piped_output_is_plain_aligned_text_with_a_summary(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "dev.yaml", "dev")
    done = kom(
        "clusters",
        "check",
        "--kubeconfig",
        str(config),
        "--timeout",
        "5",
        env=env_without_kubeconfig(tmp_path),
    )
    assert done.returncode == 1  # the cluster does not answer: a failure, not a usage error
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "SERVER", "AUTH"]  # upper case, as kubectl
    assert lines[1].startswith("dev ") and "127.0.0.1:9" in lines[1]
    assert lines[-1] == "0 ok, 1 failed"
    assert not any(c in done.stdout for c in "│┃━─\x1b")  # no box drawing, no colour codes
    assert lines[1].index("https://") == lines[0].index("SERVER")  # columns line up


def test_on_a_terminal_the_table_is_rich(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "dev.yaml", "dev")
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kom_async.cli", "clusters", "check", "--kubeconfig", str(config),
             "--timeout", "5"],
            stdout=follower,
            stderr=subprocess.PIPE,
            env=env_without_kubeconfig(tmp_path),
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
        assert proc.stderr is not None
        proc.stderr.close()
    finally:
        os.close(leader)
    raw = b"".join(chunks).decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    assert "\x1b[" in raw and "─" in text  # rich's table: a rule under the header, the failed row red
    assert "dev" in text and "0 ok, 1 failed" in text


def test_output_formats_name_yaml_json_and_wide(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "dev.yaml", "dev")
    env = env_without_kubeconfig(tmp_path)
    base = ["clusters", "check", "--kubeconfig", str(config), "--timeout", "5"]
    assert kom(*base, "-o", "name", env=env).stdout == "cluster/dev\n"  # kind/name, as kubectl -o name
    doc = yaml.safe_load(kom(*base, "-o", "yaml", env=env).stdout)
    assert doc["failed"] == 1 and doc["clusters"][0]["id"] == "dev"
    for flags in (["-o", "json"], ["--json"]):
        doc = json.loads(kom(*base, *flags, env=env).stdout)
        assert (doc["ok"], doc["failed"], doc["clusters"][0]["id"]) == (0, 1, "dev")
    wide = kom(*base, "-o", "wide", env=env).stdout.splitlines()
    assert "KUBECONFIG" in wide[0].split() and str(config) in wide[1]


def test_without_flags_the_default_kubeconfig_is_found_like_kubectl_does(tmp_path: Path) -> None:
    first = kubeconfig(tmp_path / "a.yaml", "alpha", "beta")
    second = kubeconfig(tmp_path / "b.yaml", "beta", "gamma")  # beta again: the first one wins
    env = env_without_kubeconfig(
        tmp_path, KUBECONFIG=os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)])
    )
    done = kom("clusters", "check", "-o", "name", "--timeout", "5", env=env)
    assert done.returncode == 1 and done.stdout.split() == ["cluster/alpha", "cluster/beta", "cluster/gamma"]

    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    kubeconfig(home / ".kube" / "config", "from-home")
    done = kom("clusters", "check", "-o", "name", "--timeout", "5", env=env_without_kubeconfig(home))
    assert done.stdout.split() == ["cluster/from-home"]

    done = kom("clusters", "check", env=env_without_kubeconfig(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert "--kubeconfig" in done.stderr and "KUBECONFIG" in done.stderr  # names flags, not Python

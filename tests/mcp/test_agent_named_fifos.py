"""An agent names special files to the real ``kom-async mcp`` server: a FIFO as the kubeconfig
path, as the CA file and as the token file of a kubeconfig inside the allowed directory. Each
is refused at once by the one bounded reader, and the server goes on answering."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from mcp_helpers import call_error, call_ok, stdio_client

from kom_async.lab import EKSLab

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _with_file(kubeconfig: str, field: str, path: Path) -> str:
    marker = "certificate-authority-data: " if field == "certificate-authority" else "token: "
    head, _, rest = kubeconfig.partition(marker)
    return head + f"{field}: {path}\n" + rest.split("\n", 1)[1]


async def test_fifos_named_by_an_agent_are_refused_at_once_and_the_server_goes_on(
    lab: EKSLab, tmp_path: Path
) -> None:
    cluster = await lab.create_cluster("fifos")
    allowed = tmp_path / "kubeconfigs"
    allowed.mkdir()
    for name in ("pipe", "ca.pem", "token"):
        os.mkfifo(allowed / name, 0o600)
    text = lab.kubeconfig(cluster.name, static_token=True)
    calls = [
        {"kubeconfig": str(allowed / "pipe")},
        {"kubeconfig": _with_file(text, "certificate-authority", allowed / "ca.pem")},
        {"kubeconfig": _with_file(text, "tokenFile", allowed / "token")},
    ]
    try:
        async with stdio_client(lab, "--kubeconfig-dir", str(allowed)) as client:
            for arguments in calls:
                error = await asyncio.wait_for(
                    call_error(client, "register_k8s_cluster", cluster_id="fifo", **arguments), 30
                )
                assert "FIFO" in error or "not a regular file" in error, error
            listed = await call_ok(client, "list_k8s_clusters")
            assert "fifo" not in {c["id"] for c in listed["clusters"]}
    finally:  # a reader that wrongly blocked on one is let go
        for name in ("pipe", "ca.pem", "token"):
            try:
                os.close(os.open(allowed / name, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass

"""A hostile API server floods the real MCP server (issue 21 item 4): an agent registers a
kubeconfig pointing at it, then discovery, a list, a pod log and a refusal each come back as
300 MiB. Each tool fails with a short typed error, and the server process's peak RSS (VmHWM)
grows by less than 64 MiB over the four floods."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_apiserver import HostileAPIServer, MiB
from mcp import Client
from mcp_helpers import HTTPServer, call_error, call_ok

from kom_async.lab import EKSLab

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]


def peak_rss(pid: int) -> int:
    """The process's high-water mark of resident memory, in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


async def flooded_call(client: Client, flood: str) -> str:
    """The tool that reads what ``flood`` floods, on cluster "flooded": its error text."""
    where = {"cluster": "flooded", "namespace": "default"}
    if flood == "discovery":
        return await call_error(client, "list_k8s_api_resources", cluster="flooded")
    if flood == "list":
        return await call_error(client, "list_k8s_resource", kind="pods", **where)
    if flood == "log":
        return await call_error(client, "get_k8s_pod_logs", name="p", **where)
    return await call_error(client, "get_k8s_resource", kind="configmaps", name="big", **where)


async def test_300_mib_floods_grow_the_mcp_server_by_less_than_64_mib(lab: EKSLab) -> None:
    async with HostileAPIServer.running() as evil, HTTPServer.run(lab) as server:
        async with server.client(None) as client:
            for cid in ("warm", "flooded"):
                await call_ok(client, "register_k8s_cluster", kubeconfig=evil.kubeconfig, cluster_id=cid)
            # every code path once, unflooded, so imports and caches are not counted as growth
            await call_ok(client, "list_k8s_api_resources", cluster="warm")
            await call_ok(client, "list_k8s_resource", kind="pods", cluster="warm", namespace="default")
            await call_ok(client, "get_k8s_pod_logs", name="p", cluster="warm", namespace="default")
            before = peak_rss(server.process.pid)
            evil.size = 300 * MiB
            errors = []
            for flood in ("discovery", "list", "log", "error"):
                evil.flood = {flood}
                errors.append(await flooded_call(client, flood))
            grown = peak_rss(server.process.pid) - before
    assert grown < 64 * MiB, f"peak RSS grew by {grown / MiB:.0f} MiB"
    discovery, listing, log, refusal = errors
    assert "max_body" in discovery and "max_body" in listing and "max_log" in log, errors
    assert "403" in refusal and "bytes more)" in refusal and len(refusal) < 5000, refusal[:300]
    for flood in ("discovery", "list", "log", "error"):
        assert evil.sent[flood] < 64 * MiB, evil.sent  # the reads stopped; the server did not get 300 MiB out
    print(f"peak RSS growth over four 300 MiB floods: {grown / MiB:.1f} MiB; sent {dict(evil.sent)}")

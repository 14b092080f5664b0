"""An agent sends the real ``kom-async mcp`` server YAML whose aliases expand a few hundred
bytes into hundreds of megabytes; every YAML text a tool takes goes through the bounded loader.

Before, ``patch_k8s_resource`` parsed its patch text with ``yaml.safe_load``: a 406-byte,
7-level alias patch stalled every other client for seconds and took the server from 144 to
521 MiB (9 levels ran past any timeout), while ``apply_k8s_yaml`` refused the same text.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from mcp_helpers import HTTPServer, call_error, call_ok

from kom_async.lab import EKSLab

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = secrets.token_urlsafe(24)


def alias_bomb(levels: int) -> str:
    """A merge patch whose ``data`` holds ``levels`` of nine-fold aliases (9**levels leaves)."""
    lines = ["  a: &a [xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx, xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx]"]
    previous = "a"
    for i in range(levels):
        name = chr(ord("b") + i)
        lines.append(f"  {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
        previous = name
    return "metadata:\n annotations: {x: y}\nbomb:\n" + "\n".join(lines) + "\n"


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set so far (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


async def test_an_alias_bomb_patch_is_refused_while_another_client_is_served(lab: EKSLab) -> None:
    cluster = await lab.create_cluster(f"bomb{secrets.token_hex(3)}")
    async with HTTPServer.run(lab, key=KEY) as server:
        async with server.client(KEY) as attacker, server.client(KEY) as other:
            await call_ok(
                attacker, "register_k8s_cluster", kubeconfig=lab.kubeconfig(cluster.name, static_token=True),
                cluster_id=cluster.name,
            )
            await call_ok(
                attacker, "apply_k8s_yaml", cluster=cluster.name,
                yaml_text="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: target, namespace: default}\n",
            )
            before_rss = peak_rss_mib(server.process.pid)
            patches = lab.stats(cluster.name).verbs["patch"]
            bomb = alias_bomb(6)  # 7 levels took the server from 116 to 3,258 MiB before the fix
            refused, listed = await asyncio.gather(
                call_error(
                    attacker, "patch_k8s_resource", cluster=cluster.name, kind="configmaps", name="target",
                    namespace="default", patch=bomb,
                ),
                call_ok(other, "list_k8s_clusters"),
            )
            after_rss = peak_rss_mib(server.process.pid)
            assert "patch text is refused" in refused and "aliases" in refused, refused
            assert lab.stats(cluster.name).verbs["patch"] == patches  # nothing was sent
            assert cluster.name in {c["id"] for c in listed["clusters"]}
            # the same server still patches with ordinary YAML text
            done = await call_ok(
                other, "patch_k8s_resource", cluster=cluster.name, kind="configmaps", name="target",
                namespace="default", patch="data: {k: v}\n",
            )
            assert done["data"] == {"k": "v"}
    print(f"{len(bomb)}-byte alias patch: server peak RSS {before_rss:.0f} -> {after_rss:.0f} MiB")
    assert after_rss - before_rss < 64

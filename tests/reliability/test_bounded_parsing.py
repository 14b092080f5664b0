"""A kubeconfig costs bounded time and memory, whatever it contains.

Before the bound, a 755-byte kubeconfig with a YAML alias bomb in a cluster ``extensions`` entry
took 122 s and ended in a MemoryError, serialised synchronously on the event loop as the exec
plugin's input. Each attack here is at most 4 KB and runs in a subprocess whose address space
is capped at what it had after imports plus 50 MB (RLIMIT_AS): a MemoryError, a crash or a
hang fails the test. The time bound is generous (20 s) so a loaded machine cannot miss it, yet
far below what the unbounded expansion took.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from childproc import communicate

from kom_async import Clusters
from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.config.yamlload import bound_problem
from kom_async.errors import KubeconfigError, QueryError
from kom_async.kubectl import Kubectl

REPO = Path(__file__).resolve().parents[2]
LIMIT_MB = 50
TIME_BOUND = 20.0

HEAD = """\
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: c, user: c}}]
"""
EXEC_USER = """\
users:
- name: c
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: "true", provideClusterInfo: true}
"""


def laughs(indent: int, levels: int = 9, width: int = 9) -> str:
    """The billion laughs: each level lists the previous one ``width`` times (9**9 strings)."""
    lines = ["l0: &l0 [" + ",".join(['"lol-lol-lol-lol"'] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return textwrap.indent("\n".join(lines), " " * indent) + "\n"


def cluster(extra: str = "") -> str:
    return "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\n" + extra


ATTACKS = {
    # the attack: the bomb is expanded when KUBERNETES_EXEC_INFO is serialised
    "alias bomb in the exec extension": HEAD
    + cluster(
        "    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension:\n" + laughs(8)
    )
    + EXEC_USER,
    "alias bomb in an unused field": HEAD + cluster() + EXEC_USER + "preferences:\n" + laughs(2),
    "recursive alias in the exec extension": HEAD
    + cluster(
        "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
        "      extension: &r {self: [*r, *r]}\n"
    )
    + EXEC_USER,
    "one long string repeated by aliases": HEAD
    + cluster(
        "    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension:\n"
        "        s: &s " + "x" * 2000 + "\n        many: [" + ",".join(["*s"] * 450) + "]\n"
    )
    + EXEC_USER,
    "deep nesting": HEAD
    + cluster(
        "    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension: "
        + "[" * 900
        + "]" * 900
        + "\n"
    )
    + EXEC_USER,
}

# Merge keys that double at every level: PyYAML merges them without copying, so this one may be
# accepted (its plugin then runs and fails), but it must stay as cheap.
MERGE_KEYS = (
    HEAD
    + cluster()
    + EXEC_USER
    + "preferences:\n"
    + "\n".join(
        ["  m0: &m0 {k0: v}"]
        + [f"  m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: v}}" for i in range(1, 40)]
    )
)

# A kubeconfig that uses anchors the ordinary way still registers.
WITH_ANCHORS = (
    HEAD
    + cluster("    extensions: &ext [{name: a, extension: {x: 1}}]\n")
    + "users:\n- name: c\n  user: &u {token: static-token-value}\n- name: d\n  user: *u\n"
    + "preferences: {ext: *ext}\n"
)

CHILD = """
import asyncio, json, resource, sys, threading, time
threading.stack_size(256 * 1024)
from kom_async import Clusters
from kom_async.errors import KomError

def vm_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

texts = json.load(sys.stdin)
limit = vm_bytes() + int(sys.argv[1]) * 1024 * 1024
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))

async def one(text):
    async with Clusters() as clusters:
        try:
            await clusters.register_by_string(text, exec_timeout=5)
        except KomError as exc:
            return "refused", f"{type(exc).__name__}: {exc}"[:300]
        except MemoryError:
            return "MemoryError", ""
        return "accepted", ""

for name, text in texts.items():
    started = time.perf_counter()
    outcome, detail = asyncio.run(one(text))
    print(json.dumps({"name": name, "outcome": outcome, "detail": detail,
                      "seconds": time.perf_counter() - started}), flush=True)
"""


async def run_limited(texts: dict[str, str]) -> dict[str, dict[str, object]]:
    """Register each text in one child process under the address-space cap; its report per text."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(LIMIT_MB),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(REPO),
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "MALLOC_ARENA_MAX": "1"},
    )
    try:
        out, err = await communicate(proc, 120, json.dumps(texts).encode())
    except TimeoutError:
        raise AssertionError("the registrations did not finish within 120 s") from None
    assert proc.returncode == 0, f"exit status {proc.returncode}: {err.decode()[-2000:]}"
    reports = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return {r["name"]: r for r in reports}


@pytest.mark.timeout(180)  # the child has 120 s of its own; that limit, not this one, should speak
async def test_every_small_hostile_kubeconfig_is_refused_in_bounded_time_and_memory() -> None:
    for name, text in ATTACKS.items():
        assert len(text.encode()) <= 4096, (name, len(text))
        yaml.load(text, Loader=yaml.CSafeLoader)  # each one is valid YAML: the loader alone cannot be what refuses it
    assert len(MERGE_KEYS) <= 4096
    reports = await run_limited(
        {**ATTACKS, "merge keys": MERGE_KEYS, "anchors used the ordinary way": WITH_ANCHORS}
    )
    assert reports["anchors used the ordinary way"]["outcome"] == "accepted", reports
    assert reports["merge keys"]["outcome"] in ("accepted", "refused"), reports
    assert float(reports["merge keys"]["seconds"]) < TIME_BOUND  # type: ignore[arg-type]
    for name in ATTACKS:
        report = reports[name]
        assert report["outcome"] == "refused", report
        assert str(report["detail"]).startswith("KubeconfigError"), report
        assert float(report["seconds"]) < TIME_BOUND, report  # type: ignore[arg-type]
    assert "alias" in str(reports["alias bomb in the exec extension"]["detail"])
    assert "itself" in str(reports["recursive alias in the exec extension"]["detail"])
    assert "deeper" in str(reports["deep nesting"]["detail"])


def test_the_same_bound_applies_to_an_already_parsed_mapping() -> None:
    doc = yaml.safe_load(ATTACKS["alias bomb in the exec extension"])  # shared lists, not copies
    with pytest.raises(KubeconfigError, match="aliases expand"):
        load_kubeconfig(doc)
    recursive: dict[str, object] = {}
    recursive["self"] = recursive
    assert bound_problem({"a": recursive}) is not None


async def test_the_exec_plugins_input_is_capped_before_the_plugin_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    big = HEAD + cluster(
        "    extensions:\n    - name: client.authentication.k8s.io/exec\n      extension:\n"
        + "".join(f"        k{i}: {'y' * 1000}\n" for i in range(100))
    ) + EXEC_USER.replace('command: "true"', f'command: "touch", args: ["{marker}"]')
    async with Clusters() as clusters:
        with pytest.raises(KubeconfigError, match="provideClusterInfo"):
            await clusters.register_by_string(big)
        assert len(clusters) == 0
    assert not marker.exists()


async def test_apply_refuses_an_alias_bomb_before_any_request() -> None:
    kubectl = Kubectl(api_client=None, cluster_id="offline")  # no client: any request would crash
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n" + laughs(2)
    with pytest.raises(QueryError, match="refused: its aliases expand"):
        await kubectl.apply(bomb)

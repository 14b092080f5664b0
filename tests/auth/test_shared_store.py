"""Tokens shared by a host's worker processes: ``Clusters(token_store=dir)``.

Real worker processes and a real exec plugin that counts its runs, against the lab: W workers
with the same clusters run each plugin once, a token one worker saw rejected is replaced once
for all, and a store that cannot be used costs nothing but the sharing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from pathlib import Path

import pytest
from childproc import communicate
from kubernetes_asyncio.client import CoreV1Api

from kom_async import Clusters, SharedTokenStore
from kom_async.lab import EKSLab

PLUGIN = """#!{python}
import datetime, json, os, sys, time
runs, token_file = sys.argv[1], sys.argv[2]
with open(runs, "a") as fh:
    fh.write("run\\n")
time.sleep(float(os.environ.get("PLUGIN_SLEEP", "0")))
exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=14)
print(json.dumps({{
    "kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1",
    "status": {{"token": open(token_file).read().strip(),
               "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}},
}}))
"""

WORKER = """
import asyncio, sys
from pathlib import Path
from kubernetes_asyncio.client import CoreV1Api
from kom_async import Clusters

async def main(store, *kubeconfigs):
    async with Clusters(token_store=store) as clusters:
        for i, path in enumerate(kubeconfigs):
            k = await clusters.register_by_string(Path(path).read_text(), cluster_id=f"c{i}")
            await CoreV1Api(k.api_client).list_namespace()

asyncio.run(main(*sys.argv[1:]))
"""


def _runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _plugin_kubeconfig(lab: EKSLab, tmp: Path, name: str, **extra_env: str) -> tuple[str, Path, Path]:
    """A kubeconfig for lab cluster ``name`` whose exec plugin counts its runs in ``runs``."""
    runs, token_file = tmp / f"{name}.runs", tmp / f"{name}.token"
    token_file.write_text(f"{name}-token-one")
    lab.add_static_token(name, f"{name}-token-one")
    plugin = tmp / "plugin"
    if not plugin.exists():
        plugin.write_text(PLUGIN.format(python=sys.executable))
        plugin.chmod(0o700)
    kubeconfig = lab.kubeconfig(
        name, exec_command=str(plugin), exec_args=[str(runs), str(token_file)], env=extra_env or None
    )
    return kubeconfig, runs, token_file


async def test_three_worker_processes_with_the_same_clusters_run_each_plugin_once(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    paths, runs = [], []
    for i in range(4):
        await eks_lab.create_cluster(f"w{i}")
        kubeconfig, run_file, _ = _plugin_kubeconfig(eks_lab, tmp_path, f"w{i}")
        path = tmp_path / f"w{i}.yaml"
        path.write_text(kubeconfig)
        paths.append(str(path))
        runs.append(run_file)
    store = tmp_path / "store"
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, str(store), *paths, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    results = await asyncio.gather(*(communicate(proc, timeout=90) for proc in workers))
    for proc, (_, err) in zip(workers, results, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    assert [_runs(r) for r in runs] == [1, 1, 1, 1], "a plugin ran more than once for three workers"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    entries = [p for p in store.iterdir() if p.suffix == ".json"]
    assert len(entries) == 4 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries)


async def test_two_workers_registering_at_once_wait_for_one_plugin_run(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    await eks_lab.create_cluster("race")
    kubeconfig, runs, _ = _plugin_kubeconfig(eks_lab, tmp_path, "race", PLUGIN_SLEEP="0.5")
    store = tmp_path / "store"
    async with Clusters(token_store=store) as one, Clusters(token_store=store) as two:
        await asyncio.gather(
            one.register_by_string(kubeconfig, cluster_id="r"),
            two.register_by_string(kubeconfig, cluster_id="r"),
        )
    assert _runs(runs) == 1, "both workers ran the plugin: the store's lock did not make one wait"


async def test_a_token_one_worker_saw_rejected_is_fetched_again_once_for_all(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    await eks_lab.create_cluster("rot")
    kubeconfig, runs, token_file = _plugin_kubeconfig(eks_lab, tmp_path, "rot")
    store = SharedTokenStore(tmp_path / "store")
    async with Clusters(token_store=store) as one, Clusters(token_store=store) as two:
        api_one = CoreV1Api((await one.register_by_string(kubeconfig, cluster_id="rot")).api_client)
        api_two = CoreV1Api((await two.register_by_string(kubeconfig, cluster_id="rot")).api_client)
        await api_one.list_namespace()
        await api_two.list_namespace()
        assert _runs(runs) == 1

        eks_lab.revoke_tokens("rot")
        token_file.write_text("rot-token-two")
        eks_lab.add_static_token("rot", "rot-token-two")
        await api_one.list_namespace()  # 401: the shared token is the one rejected, so it runs the plugin
        assert _runs(runs) == 2
        await api_two.list_namespace()  # 401: takes what the first worker fetched
        assert _runs(runs) == 2
        provider = two.get("rot").token_provider
        assert provider is not None and provider.token is not None
        assert provider.token.value == "rot-token-two"


async def test_workers_with_another_identity_or_plugin_env_never_share_a_token(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    await eks_lab.create_cluster("ids")
    plain, runs, _ = _plugin_kubeconfig(eks_lab, tmp_path, "ids")
    other_env = eks_lab.kubeconfig(
        "ids",
        exec_command=str(tmp_path / "plugin"),
        exec_args=[str(runs), str(tmp_path / "ids.token")],
        env={"AWS_PROFILE": "someone-else"},
    )
    store = tmp_path / "store"
    async with Clusters(token_store=store) as one, Clusters(token_store=store) as two:
        await one.register_by_string(plain, cluster_id="a")
        await two.register_by_string(other_env, cluster_id="a")
        assert _runs(runs) == 2
        os.environ["AWS_ACCESS_KEY_ID"] = "AKIAOTHERIDENTITY000"
        try:
            await two.register_by_string(plain, cluster_id="b")
        finally:
            del os.environ["AWS_ACCESS_KEY_ID"]
        assert _runs(runs) == 3, "a token made for another AWS identity was shared"
        await two.register_by_string(plain, cluster_id="c")
        assert _runs(runs) == 3


async def test_an_unusable_store_makes_each_worker_fetch_its_own(
    eks_lab: EKSLab, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await eks_lab.create_cluster("nostore")
    kubeconfig, runs, _ = _plugin_kubeconfig(eks_lab, tmp_path, "nostore")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    caplog.set_level(logging.WARNING, "kom_async")
    async with Clusters(token_store=blocker / "store") as one, Clusters(token_store=blocker / "store") as two:
        await CoreV1Api(
            (await one.register_by_string(kubeconfig, cluster_id="n")).api_client
        ).list_namespace()
        await CoreV1Api(
            (await two.register_by_string(kubeconfig, cluster_id="n")).api_client
        ).list_namespace()
    assert _runs(runs) == 2
    assert any("each process fetches its own tokens" in r.getMessage() for r in caplog.records)


async def test_an_entry_readable_by_others_or_not_a_regular_file_is_never_taken(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    await eks_lab.create_cluster("loose")
    kubeconfig, runs, _ = _plugin_kubeconfig(eks_lab, tmp_path, "loose")
    store = tmp_path / "store"
    async with Clusters(token_store=store) as one:
        await one.register_by_string(kubeconfig, cluster_id="l")
    (entry,) = [p for p in store.iterdir() if p.suffix == ".json"]
    entry.chmod(0o644)
    async with Clusters(token_store=store) as two:
        await two.register_by_string(kubeconfig, cluster_id="l")
    assert _runs(runs) == 2
    (entry,) = [p for p in store.iterdir() if p.suffix == ".json"]
    entry.unlink()
    os.mkfifo(entry, 0o600)
    async with Clusters(token_store=store) as three:
        await three.register_by_string(kubeconfig, cluster_id="l")  # a FIFO is not read (no hang)
    assert _runs(runs) == 3

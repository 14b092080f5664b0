"""A 401 storm over real HTTPS with a *slow* token source: one fetch, however many callers.

The server revokes the current token while 500 requests are about to use it. Every request
meets a 401 and asks for a new token while the (deliberately slow) source is still working;
single flight means they all wait for the same fetch. With a fast source the fetch would
finish before the next 401 arrived and a broken single flight would go unnoticed, which is
why the sources here are slow: a real exec plugin process that sleeps, and EKS-native
minting whose AWS credentials come from a sleeping ``credential_process``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from kubernetes_asyncio.client import CoreV1Api

from kom_async import Clusters
from kom_async.lab import EKSLab

STORM = 500
#: how long the source takes; long against the time the lab needs to answer 500 401s
SLOW = 0.4

EXEC_PLUGIN = """#!{python}
import datetime, json, sys, time
runs, token_file = sys.argv[1], sys.argv[2]
with open(runs, "a") as fh:
    fh.write("run\\n")
time.sleep({slow})
exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=14)
print(json.dumps({{
    "kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1",
    "status": {{"token": open(token_file).read().strip(),
               "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}},
}}))
"""

CREDENTIAL_PROCESS = """#!{python}
import datetime, json, sys, time
runs, keys = sys.argv[1], sys.argv[2]
with open(runs, "a") as fh:
    fh.write("run\\n")
time.sleep({slow})
# expires inside botocore's mandatory refresh window: every signing asks this process again
exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
out = dict(json.load(open(keys)), Version=1, Expiration=exp.strftime("%Y-%m-%dT%H:%M:%SZ"))
print(json.dumps(out))
"""


def _script(path: Path, template: str) -> Path:
    path.write_text(template.format(python=sys.executable, slow=SLOW))
    path.chmod(0o700)
    return path


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def _storm(api: CoreV1Api) -> int:
    results = await asyncio.gather(*(api.list_namespaced_config_map("demo") for _ in range(STORM)))
    return len(results)


async def test_a_401_storm_with_a_slow_exec_plugin_runs_the_plugin_once(eks_lab: EKSLab, tmp_path: Path) -> None:
    await eks_lab.create_cluster("storm")
    runs, token_file = tmp_path / "runs", tmp_path / "token"
    token_file.write_text("storm-token-one")
    eks_lab.add_static_token("storm", "storm-token-one")
    plugin = _script(tmp_path / "slow-plugin", EXEC_PLUGIN)
    kubeconfig = eks_lab.kubeconfig(
        "storm", exec_command=str(plugin), exec_args=[str(runs), str(token_file)], env=None
    )
    async with Clusters() as clusters:
        k = await clusters.register_by_string(kubeconfig, cluster_id="storm")
        provider = clusters.get("storm").token_provider
        assert provider is not None and provider.source.kind == "exec"
        api = CoreV1Api(k.api_client)
        await api.list_namespace()
        fetches, plugin_runs = provider.stats.fetches, _runs(runs)
        assert (fetches, plugin_runs) == (1, 1)

        eks_lab.revoke_tokens("storm")
        token_file.write_text("storm-token-two")
        eks_lab.add_static_token("storm", "storm-token-two")
        before = eks_lab.stats("storm")
        assert await _storm(api) == STORM

        after = eks_lab.stats("storm")
        assert after.unauthorized - before.unauthorized == STORM  # every request met the revocation
        assert provider.stats.unauthorized_recoveries == STORM
        assert _runs(runs) - plugin_runs == 1, "the plugin ran more than once for one storm"
        assert provider.stats.fetches - fetches == 1
        assert provider.token is not None and provider.token.value == "storm-token-two"


async def test_a_401_storm_with_slow_eks_native_credentials_signs_once(eks_lab: EKSLab, tmp_path: Path) -> None:
    await eks_lab.create_cluster("stormeks")
    runs, keys = tmp_path / "runs", tmp_path / "keys.json"
    env = eks_lab.aws_env
    keys.write_text(
        json.dumps({"AccessKeyId": env["AWS_ACCESS_KEY_ID"], "SecretAccessKey": env["AWS_SECRET_ACCESS_KEY"]})
    )
    keys.chmod(0o600)
    process = _script(tmp_path / "slow-credentials", CREDENTIAL_PROCESS)
    _append(env["AWS_CONFIG_FILE"], f"\n[profile slowcreds]\ncredential_process = {process} {runs} {keys}\n")
    kubeconfig = eks_lab.kubeconfig("stormeks", profile="slowcreds")
    async with Clusters() as clusters:
        k = await clusters.register_by_string(kubeconfig, cluster_id="stormeks")
        provider = clusters.get("stormeks").token_provider
        assert provider is not None and provider.source.kind == "eks-native"
        api = CoreV1Api(k.api_client)
        await api.list_namespace()
        first = provider.token
        assert first is not None and first.expires_at is not None
        fetches, credential_runs = provider.stats.fetches, _runs(runs)
        assert fetches == 1 and credential_runs >= 1

        # A token signed again within the second of the revoked one would be byte-identical
        # (and so revoked too); revoke from the next second on, as a real rotation would.
        signed_second = int(first.expires_at.timestamp())
        while int(time.time()) + 14 * 60 <= signed_second:
            await asyncio.sleep(0.05)
        eks_lab.revoke_tokens("stormeks")
        before = eks_lab.stats("stormeks")
        assert await _storm(api) == STORM

        after = eks_lab.stats("stormeks")
        assert after.unauthorized - before.unauthorized == STORM
        assert provider.stats.unauthorized_recoveries == STORM
        assert provider.stats.fetches - fetches == 1
        assert _runs(runs) - credential_runs == 1, "credentials were loaded more than once for one storm"
        assert provider.token is not None and provider.token.value != first.value

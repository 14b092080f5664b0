"""10,000 mutated kubeconfigs per run, registered and (when they register) used against the lab.

Contract: every failure is a ``KomError``; a registration that fails leaves nothing registered;
a cluster that registers answers its first request or fails it with a ``KomError``; at the end
no kom-async task is left. One lab and one ``Clusters`` serve the whole run, so the per-sample
cost is a parse, a registration and (for the ones that register) one discovery round trip.
``KOM_FUZZ_KUBECONFIGS`` and ``KOM_FUZZ_SEED`` change the count and the seed.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubeconfig_mutator import Sample, is_loopback, samples
from reliability_helpers import kom_tasks

from kom_async import Cluster, Clusters
from kom_async.config.policy import ExecPolicy
from kom_async.errors import KomError
from kom_async.lab import EKSLab

COUNT = int(os.environ.get("KOM_FUZZ_KUBECONFIGS", "10000"))
SEED = int(os.environ.get("KOM_FUZZ_SEED", "20261202"))
FIRST_REQUEST_TIMEOUT = 30.0
EKS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_EC2_METADATA_DISABLED")

#: what the last run saw, for RELIABILITY.md (printed at the end of the test)
REPORT: collections.Counter[str] = collections.Counter()


@pytest.fixture
def no_host_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS lookups that a mutated kubeconfig might trigger stay on this machine: no instance
    metadata, no profiles from the host's ~/.aws."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in list(os.environ):
        if name.startswith("AWS_CONTAINER_") or name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name)


async def test_ten_thousand_mutated_kubeconfigs_register_and_answer_or_fail_typed(
    lab: EKSLab, no_host_aws: None
) -> None:
    await lab.create_cluster("fz")
    seeds = [
        yaml.safe_load(lab.kubeconfig("fz", static_token=True)),
        # EKS: aws eks get-token, served natively; only the env native signing needs (each
        # distinct env costs a new AWS client, so fewer env entries keep the run fast)
        yaml.safe_load(lab.kubeconfig("fz", env={k: lab.aws_env[k] for k in EKS_ENV})),
    ]
    untyped: list[str] = []
    started = time.perf_counter()
    # only the plugins EKS detection serves natively may run; anything else is refused, typed
    policy = ExecPolicy(allowed={"aws"})
    # no retries: a mutated port that refuses connections would otherwise cost ~1.5 s of backoff
    async with Clusters(exec_policy=policy, retry_policy=None) as clusters:
        for index, sample in enumerate(samples(seeds, COUNT, SEED, weights=[7, 1])):
            try:
                await _one(clusters, sample, index)
            except AssertionError:
                raise
            except BaseException as exc:  # the point: catch what is not typed
                untyped.append(f"{type(exc).__name__}: {exc!s:.200} after {sample.mutations}")
                untyped.append("".join(traceback.format_exception(exc))[-1500:])
                REPORT["untyped"] += 1
                if len(untyped) > 20:
                    break
            # nothing half-registered, nothing left running, after every single sample
            assert len(clusters) == 0 and [t for t in kom_tasks() if not t.done()] == [], sample.mutations
    elapsed = time.perf_counter() - started
    assert kom_tasks() == []
    print(
        f"\nfuzz register+first request: {COUNT} kubeconfigs in {elapsed:.1f} s; "
        + ", ".join(f"{k}: {v}" for k, v in sorted(REPORT.items()))
    )
    print("slowest samples:", [(round(s, 3), m) for s, m in SLOWEST])
    assert not untyped, "\n".join(untyped[:6])
    assert REPORT["registered"] > COUNT // 20 and REPORT["first request ok"] > 0  # the seeds still work


SLOWEST: list[tuple[float, list[str]]] = []
TRIED: set[tuple[object, ...]] = set()


def _connection_key(cluster: Cluster) -> tuple[object, ...]:
    """Everything the first request's outcome depends on; samples that differ only elsewhere
    (a mutated preference, a renamed unused key) would repeat the same request."""
    client = cluster.api_client
    config = client.configuration
    provider = cluster.token_provider
    credential: object = None
    if provider is not None:
        static = provider.source.kind == "static" and provider.token is not None
        credential = provider.token.value if static and provider.token else provider.source.kind
    return (
        config.host,
        config.proxy,
        config.verify_ssl,
        config.tls_server_name,
        id(client.session.ssl_context()),
        tuple(sorted(client.default_headers.items())),
        cluster.auth_kind,
        credential,
    )


async def _one(clusters: Clusters, sample: Sample, index: int) -> None:
    began = time.perf_counter()
    try:
        await _register_and_use(clusters, sample, index)
    finally:
        SLOWEST.append((time.perf_counter() - began, sample.mutations))
        SLOWEST.sort(key=lambda s: -s[0])
        del SLOWEST[5:]


async def _register_and_use(clusters: Clusters, sample: Sample, index: int) -> None:
    before = len(clusters)
    options: dict[str, Any] = {"cluster_id": f"f{index}", "token_source": "native", "exec_timeout": 5.0}
    options.update(sample.options)
    try:
        kubectl = await clusters.register_by_string(sample.kubeconfig, **options)
    except KomError as exc:
        REPORT[f"refused: {type(exc).__name__}"] += 1
        assert len(clusters) == before, f"a failed registration left a cluster behind: {sample.mutations}"
        return
    REPORT["registered"] += 1
    assert len(clusters) == before + 1 or options.get("replace")
    cluster = clusters.get(kubectl.cluster_id)
    config = cluster.api_client.configuration
    host = config.host.split("://", 1)[1].split("/", 1)[0]
    if not is_loopback(host) or config.proxy:
        REPORT["first request skipped (not loopback)"] += 1
    elif _connection_key(cluster) in TRIED:
        REPORT["first request skipped (same connection settings tried)"] += 1
    else:
        TRIED.add(_connection_key(cluster))
        try:
            await asyncio.wait_for(kubectl.api_resources(), FIRST_REQUEST_TIMEOUT)
            REPORT["first request ok"] += 1
        except KomError as exc:
            REPORT[f"first request: {type(exc).__name__}"] += 1
    await clusters.unregister(kubectl.cluster_id)

"""``register_default`` finds what kubectl would use; ``register_in_cluster`` what a pod has."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from kom_async import Clusters
from kom_async.errors import KubeconfigError
from kom_async.lab import EKSLab


def _doc(lab: EKSLab, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(lab.kubeconfig(name, static_token=True))
    return doc


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


async def _namespaces(clusters: Clusters, cluster_id: str) -> list[str]:
    items = await clusters.get(cluster_id).kubectl.resource("Namespace").list()
    return sorted(n["metadata"]["name"] for n in items)


@pytest.fixture
async def two(eks_lab: EKSLab) -> EKSLab:
    await eks_lab.create_cluster("two")
    return eks_lab


async def test_a_two_file_kubeconfig_merges_as_kubectl_merges_it(
    two: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _doc(two, "lab"), _doc(two, "two")
    first_context, second_context = first["current-context"], second["current-context"]
    # the second file also defines the first file's user, with a bad token: the first file wins it
    second["users"].append({"name": first["users"][0]["name"], "user": {"token": "not-valid"}})
    # and names its CA by a path relative to its own folder
    ca = tmp_path / "b" / "certs" / "lab-ca.pem"
    ca.parent.mkdir(parents=True)
    ca.write_text(two.ca_pem)
    body = second["clusters"][0]["cluster"]
    del body["certificate-authority-data"]
    body["certificate-authority"] = "certs/lab-ca.pem"
    a = _write(tmp_path / "a" / "config", first)
    b = _write(tmp_path / "b" / "config", second)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(a), str(tmp_path / "missing"), "", str(b), str(a)]))
    monkeypatch.chdir(tmp_path)
    async with Clusters() as clusters:
        k = await clusters.register_default()
        assert k.cluster_id == first_context  # current-context: the first file that sets it
        await clusters.register_default(context=second_context)
        assert "default" in await _namespaces(clusters, first_context)
        assert "default" in await _namespaces(clusters, second_context)


async def test_current_context_comes_from_the_first_file_that_sets_it(
    two: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _doc(two, "lab"), _doc(two, "two")
    del first["current-context"]
    a, b = _write(tmp_path / "a.yaml", first), _write(tmp_path / "b.yaml", second)
    monkeypatch.setenv("KUBECONFIG", f"{a}{os.pathsep}{b}")
    async with Clusters() as clusters:
        k = await clusters.register_default(cluster_id="picked")
        assert clusters.get("picked").context == second["current-context"]
        assert await k.resource("Namespace").list()


async def test_without_kubeconfig_the_home_kube_config_is_used(
    eks_lab: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "home" / ".kube" / "config", _doc(eks_lab, "lab"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    async with Clusters() as clusters:
        k = await clusters.register_default("mine")
        assert await k.resource("Namespace").list()


async def test_no_kubeconfig_anywhere_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    async with Clusters() as clusters:
        with pytest.raises(KubeconfigError, match="names no existing file"):
            await clusters.register_default()
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    async with Clusters() as clusters:
        with pytest.raises(KubeconfigError, match=r"\.kube/config"):
            await clusters.register_default()


def _service_account(lab: EKSLab, root: Path, token: str) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = {"token_path": root / "token", "ca_path": root / "ca.crt", "namespace_path": root / "namespace"}
    paths["token_path"].write_text(token)
    paths["ca_path"].write_text(lab.ca_pem)
    paths["namespace_path"].write_text("team-a\n")
    return paths


def _rotate(path: Path, token: str) -> None:
    """Replace the token file the way kubelet does: a new file renamed over the old one."""
    tmp = path.with_name(".token.new")
    tmp.write_text(token)
    tmp.replace(path)


async def test_in_cluster_uses_the_service_account_and_follows_token_rotation(
    eks_lab: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lab_clock: Any
) -> None:
    for name, value in eks_lab.serve_at_root("lab").items():
        monkeypatch.setenv(name, value)
    eks_lab.add_static_token("lab", "sa-token-1", username="system:serviceaccount:team-a:app")
    paths = _service_account(eks_lab, tmp_path / "sa", "sa-token-1\n")
    async with Clusters(clock=lab_clock) as clusters:
        k = await clusters.register_in_cluster(**paths)  # type: ignore[arg-type]
        cluster = clusters.get("in-cluster")
        assert cluster.namespace == "team-a"
        assert cluster.server == f"https://127.0.0.1:{os.environ['KUBERNETES_SERVICE_PORT']}"
        assert await k.resource("Namespace").list()
        first = cluster.token_provider.token  # type: ignore[union-attr]
        # kubelet rotates the token and the old one stops working
        _rotate(paths["token_path"], "sa-token-2\n")
        eks_lab.revoke_tokens("lab")
        eks_lab.add_static_token("lab", "sa-token-2", username="system:serviceaccount:team-a:app")
        lab_clock.advance(61)  # the periodic re-check finds the new file
        for _ in range(200):
            if cluster.token_provider.token is not first:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.01)
        assert cluster.token_provider.token.value == "sa-token-2"  # type: ignore[union-attr]
        assert await k.resource("Namespace").list()
        stats = cluster.auth_stats
        assert stats is not None and stats.unauthorized_recoveries == 0  # renewed before any 401


async def test_in_cluster_after_a_401_rereads_the_rotated_file(
    eks_lab: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in eks_lab.serve_at_root("lab").items():
        monkeypatch.setenv(name, value)
    eks_lab.add_static_token("lab", "sa-token-1")
    paths = _service_account(eks_lab, tmp_path / "sa", "sa-token-1")
    async with Clusters() as clusters:
        k = await clusters.register_in_cluster("pod", **paths)  # type: ignore[arg-type]
        _rotate(paths["token_path"], "sa-token-2")
        eks_lab.revoke_tokens("lab")
        eks_lab.add_static_token("lab", "sa-token-2")
        assert await k.resource("Namespace").list()
        stats = clusters.get("pod").auth_stats
        assert stats is not None and stats.unauthorized_recoveries >= 1 and stats.fetches == 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "https"}, "not a port number"),
        ({"KUBERNETES_SERVICE_HOST": "evil/../x", "KUBERNETES_SERVICE_PORT": "443"}, "not a host name"),
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "cannot read the service account token"),
    ],
)
async def test_outside_a_pod_in_cluster_says_what_is_missing(
    env: dict[str, str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    async with Clusters() as clusters:
        with pytest.raises(KubeconfigError, match=message):
            await clusters.register_in_cluster(token_path=tmp_path / "absent")

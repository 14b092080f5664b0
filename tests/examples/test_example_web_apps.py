"""The FastAPI and aiohttp examples: registry up in the lifespan, pods from every cluster, closed on shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp_app
import fastapi_app
import httpx
from aiohttp.test_utils import TestClient, TestServer
from lab_setup import lab_with_kubeconfigs

from kom_async import Clusters
from kom_async.lab import EKSLab

SEEDED_PODS = ["api-0", "web-0", "web-1"]


def refresh_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("kom-async:refresh:") and not t.done()]


def add_broken_cluster(lab: EKSLab, folder: Path) -> None:
    """broken.yaml: the dev cluster's kubeconfig pointed at a port nobody listens on."""
    origin = lab.cluster("dev").server.split("/clusters/")[0]
    text = lab.kubeconfig("dev", static_token=True).replace(origin, "https://127.0.0.1:9")
    (folder / "broken.yaml").write_text(text)


async def test_fastapi_lists_pods_of_every_cluster_and_closes_the_registry_on_shutdown(
    tmp_path: Path,
) -> None:
    async with lab_with_kubeconfigs(tmp_path) as lab:
        add_broken_cluster(lab, tmp_path)
        app = fastapi_app.create_app(tmp_path)
        async with app.router.lifespan_context(app):
            clusters: Clusters = app.state.clusters
            assert sorted(clusters) == ["broken", "dev", "prod", "staging"]
            assert len(refresh_tasks()) == 2  # one per EKS cluster; the static tokens need none
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                response = await client.get("/pods", params={"namespace": "demo"})
                assert response.status_code == 200
                body = response.json()
                for cid in ("dev", "prod", "staging"):
                    assert body[cid] == {"pods": SEEDED_PODS}
                assert "127.0.0.1:9" in body["broken"]["error"]  # one broken cluster, the rest answer

                info = {c["id"]: c for c in (await client.get("/clusters")).json()}
                assert info["prod"]["eks"] and info["prod"]["token_fetches"] == 1
                assert info["prod"]["token_expires_at"] is not None and not info["dev"]["eks"]

                metrics = (await client.get("/metrics", follow_redirects=True)).text
                assert 'kom_async_token_fetches_total{cluster="staging"} 1.0' in metrics
        assert len(clusters) == 0 and refresh_tasks() == []


async def test_fastapi_reads_the_folder_from_the_environment(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    async with lab_with_kubeconfigs(tmp_path):
        monkeypatch.setenv("KOM_KUBECONFIG_DIR", str(tmp_path))
        app = fastapi_app.app  # the module-level app uvicorn would serve
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                body = (await client.get("/pods")).json()  # namespace "default": empty
                assert body == {"dev": {"pods": []}, "prod": {"pods": []}, "staging": {"pods": []}}
        assert refresh_tasks() == []


async def test_aiohttp_lists_pods_of_every_cluster_and_closes_the_registry_in_cleanup(tmp_path: Path) -> None:
    async with lab_with_kubeconfigs(tmp_path) as lab:
        add_broken_cluster(lab, tmp_path)
        app = aiohttp_app.create_app(kubeconfig_dir=tmp_path)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            clusters = app[aiohttp_app.CLUSTERS]
            assert sorted(clusters) == ["broken", "dev", "prod", "staging"]
            response = await client.get("/pods", params={"namespace": "demo"})
            assert response.status == 200
            body = await response.json()
            assert {cid: body[cid] for cid in ("dev", "prod", "staging")} == {
                cid: {"pods": SEEDED_PODS} for cid in ("dev", "prod", "staging")
            }
            assert "error" in body["broken"]
        assert len(clusters) == 0 and refresh_tasks() == []

"""FastAPI + kom-async: one registry for the app's lifetime, pods of every cluster in one request.

Serve your own clusters (one kubeconfig file per cluster in a folder)::

    KOM_KUBECONFIG_DIR=~/.kube/clusters uvicorn fastapi_app:app

Self-contained run on the offline lab (prints one /pods response; ``--serve`` keeps
serving on http://127.0.0.1:8000 with uvicorn)::

    python examples/fastapi_app.py [--serve]
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from kom_async import Clusters, Kubectl


def kubeconfig_files(folder: str | Path) -> list[Path]:
    """Every file in ``folder`` except dotfiles, sorted: one kubeconfig per cluster."""
    return sorted(
        p for p in Path(folder).expanduser().iterdir() if p.is_file() and not p.name.startswith(".")
    )


async def register_folder(clusters: Clusters, folder: str | Path) -> None:
    """Register every kubeconfig file in ``folder``, all at once; id = file name without extension."""
    paths = kubeconfig_files(folder)
    await asyncio.gather(*(clusters.register_by_path(p, cluster_id=p.stem) for p in paths))


def create_app(kubeconfig_dir: str | Path | None = None) -> FastAPI:
    """The app; ``kubeconfig_dir`` defaults to ``$KOM_KUBECONFIG_DIR`` (read at startup)."""

    registry = _metrics_registry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # one registry per process: tokens are fetched once and shared by every request;
        # leaving the block closes every client and cancels every refresh task
        async with Clusters() as clusters:
            await register_folder(clusters, kubeconfig_dir or os.environ["KOM_KUBECONFIG_DIR"])
            app.state.clusters = clusters
            collector = _expose_metrics(clusters, registry)
            try:
                yield
            finally:
                if collector is not None:
                    registry.unregister(collector)

    app = FastAPI(title="kom-async example", lifespan=lifespan)
    if registry is not None:
        from prometheus_client import make_asgi_app

        # Prometheus' own ASGI exporter serves /metrics/ (and /metrics redirects to it)
        app.mount("/metrics", make_asgi_app(registry=registry))

    @app.get("/pods")
    async def pods(request: Request, namespace: str = "default") -> dict[str, Any]:
        """Pod names per cluster; a broken cluster shows its error, the others still answer."""
        clusters: Clusters = request.app.state.clusters

        async def pod_names(k: Kubectl) -> list[str]:
            return [p["metadata"]["name"] for p in await k.resource("Pod").namespace(namespace).list()]

        results = await clusters.gather(pod_names, timeout=10)
        return {
            cluster_id: {"error": str(result)} if isinstance(result, BaseException) else {"pods": result}
            for cluster_id, result in results.items()
        }

    @app.get("/clusters")
    async def clusters_info(request: Request) -> list[dict[str, Any]]:
        """Every registered cluster with its token stats."""
        clusters: Clusters = request.app.state.clusters
        out = []
        for cluster in clusters.values():
            stats = cluster.auth_stats
            out.append(
                {
                    "id": cluster.id,
                    "server": cluster.server,
                    "eks": cluster.is_eks,
                    "token_fetches": stats.fetches if stats else None,
                    "token_expires_at": stats.expires_at.isoformat() if stats and stats.expires_at else None,
                }
            )
        return out

    return app


def _metrics_registry() -> Any:
    """A Prometheus registry for this app, or None without ``kom-async[prometheus]``."""
    try:
        from prometheus_client import CollectorRegistry
    except ImportError:
        return None
    return CollectorRegistry()


def _expose_metrics(clusters: Clusters, registry: Any) -> Any:
    """Publish the token metrics of ``clusters`` on ``registry``; the collector, to undo it."""
    if registry is None:
        return None
    from kom_async.metrics import register_prometheus

    return register_prometheus(clusters, registry)


app = create_app()  # for `uvicorn fastapi_app:app`


async def _demo(serve: bool) -> None:
    import json
    import tempfile

    import httpx
    from lab_setup import lab_with_kubeconfigs

    with tempfile.TemporaryDirectory() as folder:
        async with lab_with_kubeconfigs(folder):
            demo = create_app(folder)
            if serve:
                import uvicorn  # pip install uvicorn

                config = uvicorn.Config(demo, host="127.0.0.1", port=8000)
                print("serving on http://127.0.0.1:8000/pods?namespace=demo (Ctrl-C stops)")
                await uvicorn.Server(config).serve()
                return
            async with demo.router.lifespan_context(demo):
                transport = httpx.ASGITransport(app=demo)
                async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                    response = await client.get("/pods", params={"namespace": "demo"})
                    print(json.dumps(response.json(), indent=2))


if __name__ == "__main__":
    import sys

    asyncio.run(_demo("--serve" in sys.argv))

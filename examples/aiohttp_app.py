"""aiohttp + kom-async: the registry lives in a ``cleanup_ctx``, pods of every cluster per request.

Serve your own clusters (one kubeconfig file per cluster in a folder)::

    KOM_KUBECONFIG_DIR=~/.kube/clusters python -m aiohttp.web -H 127.0.0.1 -P 8080 aiohttp_app:create_app

Self-contained run on the offline lab (prints one /pods response; ``--serve`` keeps
serving on http://127.0.0.1:8080)::

    python examples/aiohttp_app.py [--serve]
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from kom_async import Clusters, Kubectl

CLUSTERS = web.AppKey("clusters", Clusters)


def kubeconfig_files(folder: str | Path) -> list[Path]:
    """Every file in ``folder`` except dotfiles, sorted: one kubeconfig per cluster."""
    return sorted(
        p for p in Path(folder).expanduser().iterdir() if p.is_file() and not p.name.startswith(".")
    )


async def register_folder(clusters: Clusters, folder: str | Path) -> None:
    """Register every kubeconfig file in ``folder``, all at once; id = file name without extension."""
    paths = kubeconfig_files(folder)
    await asyncio.gather(*(clusters.register_by_path(p, cluster_id=p.stem) for p in paths))


def clusters_ctx(kubeconfig_dir: str | Path | None) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context: registry up before the first request, closed after the last."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async with Clusters() as clusters:
            await register_folder(clusters, kubeconfig_dir or os.environ["KOM_KUBECONFIG_DIR"])
            app[CLUSTERS] = clusters
            yield

    return ctx


async def pods(request: web.Request) -> web.Response:
    """Pod names per cluster; a broken cluster shows its error, the others still answer."""
    namespace = request.query.get("namespace", "default")

    async def pod_names(k: Kubectl) -> list[str]:
        return [p["metadata"]["name"] for p in await k.resource("Pod").namespace(namespace).list()]

    results = await request.app[CLUSTERS].gather(pod_names, timeout=10)
    body: dict[str, Any] = {
        cluster_id: {"error": str(result)} if isinstance(result, BaseException) else {"pods": result}
        for cluster_id, result in results.items()
    }
    return web.json_response(body)


def create_app(argv: list[str] | None = None, kubeconfig_dir: str | Path | None = None) -> web.Application:
    """The app (``argv`` is there for ``python -m aiohttp.web``); ``kubeconfig_dir`` defaults
    to ``$KOM_KUBECONFIG_DIR``."""
    app = web.Application()
    app.cleanup_ctx.append(clusters_ctx(kubeconfig_dir))
    app.router.add_get("/pods", pods)
    return app


async def _demo(serve: bool) -> None:
    import json
    import tempfile

    from aiohttp.test_utils import TestClient, TestServer
    from lab_setup import lab_with_kubeconfigs

    with tempfile.TemporaryDirectory() as folder:
        async with lab_with_kubeconfigs(folder):
            app = create_app(kubeconfig_dir=folder)
            if serve:
                runner = web.AppRunner(app)
                await runner.setup()
                try:
                    await web.TCPSite(runner, "127.0.0.1", 8080).start()
                    print("serving on http://127.0.0.1:8080/pods?namespace=demo (Ctrl-C stops)")
                    await asyncio.Event().wait()
                finally:
                    await runner.cleanup()
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                response = await client.get("/pods", params={"namespace": "demo"})
                print(json.dumps(await response.json(), indent=2))


if __name__ == "__main__":
    import sys

    asyncio.run(_demo("--serve" in sys.argv))

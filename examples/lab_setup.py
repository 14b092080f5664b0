"""Lab helper for the examples' self-contained runs (not needed with real clusters).

``async with lab_with_kubeconfigs(folder) as lab:`` starts the offline EKS lab with three
clusters and writes one kubeconfig per cluster into ``folder``:

- ``prod.yaml``    EKS, us-east-1, as ``aws eks update-kubeconfig`` writes it (exec ``aws eks get-token``;
  kom-async mints the tokens natively, no ``aws`` needed)
- ``staging.yaml`` EKS, eu-west-1, same kind
- ``dev.yaml``     a static bearer token
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from kom_async.lab import EKSLab

__all__ = ["lab_with_kubeconfigs"]


@asynccontextmanager
async def lab_with_kubeconfigs(folder: str | Path) -> AsyncIterator[EKSLab]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    async with EKSLab() as lab:
        await lab.create_cluster("prod", region="us-east-1")
        await lab.create_cluster("staging", region="eu-west-1")
        await lab.create_cluster("dev", region="us-east-1")
        lab.write_kubeconfig(folder / "prod.yaml", "prod")
        lab.write_kubeconfig(folder / "staging.yaml", "staging")
        lab.write_kubeconfig(folder / "dev.yaml", "dev", static_token=True)
        yield lab

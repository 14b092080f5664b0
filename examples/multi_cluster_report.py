"""Register every kubeconfig in a folder and print one table row per cluster.

    python examples/multi_cluster_report.py ~/.kube/clusters   # your clusters
    python examples/multi_cluster_report.py                    # the offline lab's clusters

Each file in the folder is one cluster (id = file name without extension); all clusters
are queried at once and one broken cluster only fills its own row with the error.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

from kom_async import Clusters, Kubectl


@dataclass
class Row:
    cluster: str
    eks: bool
    nodes: int | str = "-"
    namespaces: int | str = "-"
    pods: int | str = "-"
    not_running: int | str = "-"
    token_expires: str = "-"
    error: str = ""


async def count_things(k: Kubectl) -> tuple[int, int, int, int]:
    """Nodes, namespaces, pods (all namespaces) and pods not Running/Succeeded."""
    nodes, namespaces, pods = await asyncio.gather(
        k.resource("Node").count(),
        k.resource("Namespace").count(),
        k.resource("Pod").all_namespaces().list(),
    )
    not_running = sum(p.get("status", {}).get("phase") not in ("Running", "Succeeded") for p in pods)
    return nodes, namespaces, len(pods), not_running


def kubeconfig_files(folder: str | Path) -> list[Path]:
    """Every file in ``folder`` except dotfiles, sorted: one kubeconfig per cluster."""
    return sorted(
        p for p in Path(folder).expanduser().iterdir() if p.is_file() and not p.name.startswith(".")
    )


async def report(folder: str | Path) -> list[Row]:
    rows: list[Row] = []
    async with Clusters() as clusters:
        for path in kubeconfig_files(folder):
            try:
                await clusters.register_by_path(path, cluster_id=path.stem)
            except Exception as exc:  # a kubeconfig that cannot even be registered
                rows.append(Row(path.stem, eks=False, error=f"register: {exc}"))
        results = await clusters.gather(count_things, timeout=15)
        for cluster_id, result in results.items():
            cluster = clusters.get(cluster_id)
            row = Row(cluster_id, eks=cluster.is_eks)
            stats = cluster.auth_stats
            if stats is not None:
                row.token_expires = f"{stats.expires_at:%H:%M:%S}Z" if stats.expires_at else "never"
            if isinstance(result, BaseException):
                row.error = str(result) or type(result).__name__
            else:
                row.nodes, row.namespaces, row.pods, row.not_running = result
            rows.append(row)
    return sorted(rows, key=lambda r: r.cluster)


def format_table(rows: list[Row]) -> str:
    header = ("CLUSTER", "EKS", "NODES", "NAMESPACES", "PODS", "NOT RUNNING", "TOKEN EXPIRES", "ERROR")
    cells = [header] + [
        (r.cluster, "yes" if r.eks else "no", str(r.nodes), str(r.namespaces), str(r.pods),
         str(r.not_running), r.token_expires, r.error)
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


async def main(folder: str | None) -> int:
    if folder is not None:
        rows = await report(folder)
    else:  # no folder: run against the offline lab's clusters
        import tempfile

        from lab_setup import lab_with_kubeconfigs

        with tempfile.TemporaryDirectory() as tmp:
            async with lab_with_kubeconfigs(tmp):
                rows = await report(tmp)
    print(format_table(rows))
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None)))

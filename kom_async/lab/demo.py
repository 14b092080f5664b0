"""``kom-async demo``: the whole EKS flow, offline, from AWS credentials to listed pods.

Starts the embedded lab, registers one cluster through an ``aws eks get-token`` kubeconfig
and one by name (native tokens), lists pods through the fluent API and through
kubernetes_asyncio's ``CoreV1Api``, survives a token revocation, and prints token expiry
and fetch counts. Exits 0 when every step worked.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime


def _say(out: Callable[[str], None], step: str, detail: str = "") -> None:
    out(f"  {step:<44} {detail}")


async def run_demo(
    *, cluster_name: str = "demo", region: str = "us-east-1", out: Callable[[str], None] = print
) -> None:
    """Run every step of the demo; raises on the first step that fails."""
    # long: the demo is a script; its steps read top to bottom like the README
    from kubernetes_asyncio.client import CoreV1Api

    from kom_async import Clusters
    from kom_async.lab import EKSLab

    started = time.perf_counter()
    out("kom-async demo: EKS authentication end to end, on the embedded offline lab\n")
    async with EKSLab(region=region) as lab, Clusters() as clusters:
        await lab.create_cluster(cluster_name, region=region)
        _say(out, "lab: moto STS/EKS on", lab.aws_url)
        _say(out, "lab: EKS cluster API server", lab.cluster(cluster_name, region).server)

        # 1. the kubeconfig `aws eks update-kubeconfig` would write (exec aws eks get-token)
        kubeconfig = lab.kubeconfig(cluster_name, region=region)
        via_kubeconfig = await clusters.register_by_string(kubeconfig, cluster_id="from-kubeconfig")
        c1 = clusters.get("from-kubeconfig")
        source1 = c1.token_provider.source.kind if c1.token_provider else "none"
        _say(
            out, "registered from kubeconfig (aws eks get-token)", f"EKS={c1.is_eks}, token source={source1}"
        )

        # 2. the same cluster by name only: DescribeCluster + native tokens, no kubeconfig
        by_name = await clusters.register_eks(cluster_name=cluster_name, region=region, env=lab.aws_env)
        c2 = clusters.get(f"{region}-{cluster_name}")
        _say(out, "registered by name (register_eks)", f"id={c2.id}, server from DescribeCluster")

        # 3. and, where the AWS CLI is installed, through the real subprocess plugin
        if shutil.which("aws"):
            await clusters.register_by_string(kubeconfig, cluster_id="via-aws-cli", token_source="exec")
            _say(out, "registered with token_source='exec'", "aws eks get-token as a subprocess")

        pods = await by_name.resource("Pod").namespace("*").list()
        _say(out, "fluent API: pods in all namespaces", str(len(pods)))
        for pod in pods:
            meta, status = pod["metadata"], pod.get("status", {})
            out(f"      {meta['namespace']:<12} {meta['name']:<28} {status.get('phase', '?')}")

        core = CoreV1Api(via_kubeconfig.api_client)
        namespaces = await core.list_namespace()
        _say(out, "CoreV1Api: namespaces", ", ".join(ns.metadata.name for ns in namespaces.items))

        # 4. the cluster revokes every token: the next request refreshes once and succeeds
        await asyncio.sleep(1.05)  # tokens carry a one-second timestamp; step past it
        lab.revoke_tokens(cluster_name, region)
        await asyncio.sleep(1.05)
        again = await by_name.resource("Pod").namespace("demo").list()
        stats = c2.auth_stats
        assert stats is not None
        _say(
            out,
            "after the lab revoked all tokens",
            f"{len(again)} pods, 401 recoveries={stats.unauthorized_recoveries}",
        )

        out("\n  token status (values are never printed):")
        now = datetime.now(UTC)
        for cluster in clusters.values():
            s = cluster.auth_stats
            if s is None:
                continue
            left = (s.expires_at - now).total_seconds() / 60 if s.expires_at else float("nan")
            fetch_ms = (s.last_fetch_duration or 0) * 1000
            out(
                f"    {cluster.id:<20} source={s.source:<10} fetches={s.fetches} "
                f"last fetch={fetch_ms:8.2f} ms  expires in {left:4.1f} min "
                f"({s.expires_at:%H:%M:%S} UTC)"
            )
    out(f"\ndemo finished in {time.perf_counter() - started:.1f} s: OK")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kom-async demo",
        description=textwrap.fill(
            "Run the whole EKS flow offline, from AWS credentials to listed pods: start the "
            "embedded lab, register one cluster through an 'aws eks get-token' kubeconfig and one "
            "by name (native tokens), list pods, survive a token revocation, print token expiry "
            "and fetch counts. Exit status 0 when every step worked, 1 when one failed."
        ),
        epilog="examples:\n  kom-async demo\n  kom-async demo --cluster-name shop --region eu-west-1\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cluster-name", default="demo", metavar="NAME", help="name of the lab's EKS cluster (default demo)"
    )
    parser.add_argument(
        "--region", default="us-east-1", metavar="REGION", help="AWS region of the lab (default us-east-1)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """``kom-async demo [--cluster-name N] [--region R]``."""
    args = _parser().parse_args(argv)
    from kom_async.errors import KomError

    try:
        asyncio.run(run_demo(cluster_name=args.cluster_name, region=args.region))
    except KomError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

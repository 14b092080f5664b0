"""``kom-async eks discover``: find the EKS clusters of several accounts and regions, print them.

::

    kom-async eks discover --region R [--region R2] [--role-arn ARN ...] [--profile P ...]
        [--name-filter GLOB] [--tag KEY=VALUE ...] [-o table|json|yaml|name]

Runs ``Clusters.discover_eks`` with the host's AWS identity (assuming each ``--role-arn``, or
from each ``--profile``) and prints every cluster found, then the (account, region) pairs
that failed. Exit status: 0 when every pair was listed, 1 when any failed (what was found is
printed all the same), 2 for usage errors — as ``clusters check`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from kom_async.errors import KomError

if TYPE_CHECKING:
    from kom_async.auth.eks.discovery import DiscoveryResult

OUTPUTS = ("table", "json", "yaml", "name")
COLUMNS = ("id", "account", "region", "name", "status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``eks discover`` (on the parser ``kom-async eks`` gives it)."""
    parser.add_argument(
        "--region", action="append", required=True, metavar="REGION", help="a region to look in (repeatable)"
    )
    parser.add_argument(
        "--role-arn",
        action="append",
        default=[],
        metavar="ARN",
        help="assume this role, one per account (repeatable; default: the host's own identity)",
    )
    parser.add_argument(
        "--profile", action="append", default=[], metavar="PROFILE", help="an AWS profile to use (repeatable)"
    )
    parser.add_argument(
        "--name-filter", metavar="GLOB", help="only clusters whose name matches, e.g. 'prod-*'"
    )
    parser.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only clusters with this tag (repeatable)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="AWS calls in flight at most (default 16)"
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=OUTPUTS,
        default="table",
        metavar="FORMAT",
        help="table (default), json, yaml, or name (one cluster id a line)",
    )


def run(args: argparse.Namespace | SimpleNamespace) -> int:
    """Discover, print, and return the exit status."""
    tags: dict[str, str] = {}
    for item in args.tag:
        key, eq, value = item.partition("=")
        if not eq or not key:
            print(f"kom-async eks discover: error: --tag takes KEY=VALUE, not {item!r}", file=sys.stderr)
            return 2
        tags[key] = value
    try:
        result = asyncio.run(_discover(args, tags))
    except KeyboardInterrupt:
        return 130
    except KomError as exc:
        print(f"kom-async eks discover: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(result, args.output))
    for failure in result.failures if args.output in ("table", "name") else ():
        print(f"failed: {failure}", file=sys.stderr)
    return 0 if result.complete else 1


async def _discover(args: argparse.Namespace | SimpleNamespace, tags: dict[str, str]) -> DiscoveryResult:
    from kom_async.clusters import Clusters

    async with Clusters() as clusters:
        return await clusters.discover_eks(
            args.region,
            role_arns=args.role_arn,
            profiles=args.profile,
            name_filter=args.name_filter,
            tags=tags or None,
            concurrency=args.concurrency,
        )


def as_document(result: DiscoveryResult) -> dict[str, Any]:
    """The result as JSON/YAML-ready data: clusters (with their ids), failures, AWS calls."""
    ids = {(c.account, c.region, c.name): cid for cid, c in _registered(result)}
    return {
        "clusters": [
            {
                "id": ids.get((c.account, c.region, c.name)),
                "account": c.account,
                "region": c.region,
                "name": c.name,
                "status": c.status,
                "arn": c.arn,
                "tags": dict(c.tags),
            }
            for c in result.found
        ],
        "failures": [
            {
                "account": f.account,
                "region": f.region,
                "identity": str(f.source),
                "cluster": f.cluster,
                "kind": f.error.kind.value,
                "message": str(f.error),
            }
            for f in result.failures
        ],
        "calls": result.calls,
        "found": len(result.found),
        "failed": len(result.failures),
    }


def _registered(result: DiscoveryResult) -> list[tuple[str, Any]]:
    """(id, cluster) for every found cluster that has an id (registered or kept)."""
    by_key = {f"{c.account}-{c.region}-{c.name}": c for c in result.found}
    return [(cid, by_key[cid]) for cid in (*result.registered, *result.kept) if cid in by_key]


def render(result: DiscoveryResult, output: str) -> str:
    """The text ``-o output`` prints."""
    if output == "json":
        return json.dumps(as_document(result), indent=2) + "\n"
    if output == "yaml":
        import yaml

        return str(yaml.safe_dump(as_document(result), sort_keys=False))
    if output == "name":
        return "".join(f"{cid}\n" for cid, _ in _registered(result))
    ids = {(c.account, c.region, c.name): cid for cid, c in _registered(result)}
    rows = [COLUMNS] + [
        (ids.get((c.account, c.region, c.name), "-"), c.account, c.region, c.name, c.status)
        for c in result.found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.append(f"{len(result.found)} found, {len(result.failures)} failed")
    return "\n".join(lines) + "\n"

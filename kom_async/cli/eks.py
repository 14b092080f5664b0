"""``kom-async eks get-token``: a drop-in for ``aws eks get-token``, minted in-process.

Prints the same ExecCredential JSON, so kubectl can use it as an exec plugin. Start-up
is kept lean: only the native signer and aiobotocore are imported, never
kubernetes_asyncio or the kubeconfig machinery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import NoReturn

__all__ = ["exec_credential", "main"]

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
V1ALPHA1 = "client.authentication.k8s.io/v1alpha1"
_KNOWN_VERSIONS = (V1, V1BETA1, V1ALPHA1)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage mistakes as an exit-1 error, not exit 2 + SystemExit."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog="kom-async eks",
        description="EKS helpers. get-token prints an ExecCredential like `aws eks get-token`.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    get = sub.add_parser("get-token", help="print an EKS token as ExecCredential JSON")
    get.add_argument("--cluster-name", help="the EKS cluster's name (signed as x-k8s-aws-id)")
    get.add_argument("--cluster-id", help="the cluster id (EKS local clusters on Outposts)")
    get.add_argument("--region", help="AWS region (default: AWS_REGION / profile config)")
    get.add_argument("--role-arn", help="assume this IAM role to sign the token")
    get.add_argument("--profile", help="AWS profile to take credentials from")
    get.add_argument("--output", default="json", choices=["json"], help=argparse.SUPPRESS)
    return parser


def exec_api_version(environ: dict[str, str] | os._Environ[str] | None = None) -> tuple[str, str | None]:
    """The apiVersion to answer with (from KUBERNETES_EXEC_INFO) and a warning, if any."""
    raw = (environ if environ is not None else os.environ).get("KUBERNETES_EXEC_INFO", "")
    if not raw:
        return V1BETA1, None
    try:
        info = json.loads(raw)
    except ValueError:
        return V1BETA1, f"Error parsing KUBERNETES_EXEC_INFO, defaulting to {V1BETA1}"
    version = info.get("apiVersion") if isinstance(info, dict) else None
    if version in _KNOWN_VERSIONS:
        return str(version), None
    return V1BETA1, f"Unrecognized apiVersion in KUBERNETES_EXEC_INFO, defaulting to {V1BETA1}"


def exec_credential(token: str, expiration: str, api_version: str = V1BETA1) -> dict[str, object]:
    """The ExecCredential object kubectl reads from an exec plugin's stdout."""
    return {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {"expirationTimestamp": expiration, "token": token},
    }


async def _mint(args: argparse.Namespace) -> tuple[str, str]:
    from kom_async.eks import get_token

    token = await get_token(
        cluster_name=args.cluster_id or args.cluster_name,
        region=args.region,
        role_arn=args.role_arn,
        profile=args.profile,
    )
    assert token.expires_at is not None
    return token.value, token.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    """Run ``eks get-token ...`` (a leading ``eks`` is optional); return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["eks"]:
        args_list = args_list[1:]
    try:
        args = _parser().parse_args(args_list)
        if args.cluster_name and args.cluster_id:
            raise _UsageError("pass --cluster-name or --cluster-id, not both")
        if not (args.cluster_name or args.cluster_id):
            raise _UsageError("either --cluster-name or --cluster-id must be specified")
    except _UsageError as exc:
        print(f"kom-async eks: error: {exc}", file=sys.stderr)
        return 1
    from kom_async.errors import KomError

    api_version, warning = exec_api_version()
    if warning:
        print(warning, file=sys.stderr)
    try:
        token, expiration = asyncio.run(_mint(args))
    except KomError as exc:
        print(f"kom-async eks get-token: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    sys.stdout.write(json.dumps(exec_credential(token, expiration, api_version), indent=4) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``kom-async eks get-token``: a drop-in for ``aws eks get-token``, minted in-process
(``kom-async eks discover``, fleet discovery, lives in ``eks_discover``).

Prints the same ExecCredential JSON, so kubectl can use it as an exec plugin. kubectl runs
it on every invocation, so it is built for start-up time: a cached token (see
:mod:`kom_async.auth.eks.token_cache`; ``--no-cache`` skips it) costs a file read; a new
one is signed with the standard library when the keys are in the environment, and
otherwise after botocore resolves the credentials. Neither asyncio, aiobotocore, aiohttp
nor kubernetes_asyncio is imported, and the usual command line is read without argparse
(which, with ``re``, ``enum`` and ``typing``, would cost more than the cached call itself).
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    import argparse
    from types import SimpleNamespace
    from typing import NoReturn

    from kom_async.auth.eks.keys import MintTarget

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
V1ALPHA1 = "client.authentication.k8s.io/v1alpha1"
_KNOWN_VERSIONS = (V1, V1BETA1, V1ALPHA1)


class _UsageError(Exception):
    pass


# option -> attribute, for the quick reader of the usual command line
_VALUE_OPTIONS = {
    "--cluster-name": "cluster_name",
    "--cluster-id": "cluster_id",
    "--region": "region",
    "--role-arn": "role_arn",
    "--profile": "profile",
    "--output": "output",
}


DISCOVER_EXAMPLES = """examples:
  # every EKS cluster this identity sees in two regions, one id a line
  kom-async eks discover --region eu-west-1 --region us-east-1 -o name

  # two accounts through their roles, production clusters of one team, as JSON
  kom-async eks discover --region eu-west-1 \\
      --role-arn arn:aws:iam::111111111111:role/platform-readonly \\
      --role-arn arn:aws:iam::222222222222:role/platform-readonly \\
      --name-filter 'prod-*' --tag team=platform -o json
"""

GET_TOKEN_EXAMPLES = """examples:
  # a token for the cluster "prod" in us-east-1 (what kubectl runs through the kubeconfig)
  kom-async eks get-token --cluster-name prod --region us-east-1

  # signed with a role, from a named profile, never from the cache
  kom-async eks get-token --cluster-name prod --role-arn arn:aws:iam::123456789012:role/admin \\
      --profile ops --no-cache

  # in a kubeconfig, in place of `aws eks get-token`:
  #   exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: kom-async,
  #          args: [eks, get-token, --cluster-name, prod, --region, us-east-1]}
"""


def _quick_args(argv: list[str]) -> SimpleNamespace | None:
    """The arguments of ``get-token --opt value ...`` without argparse; None for anything
    else (help, abbreviations, mistakes), which argparse then reads and reports."""
    from types import SimpleNamespace

    if argv[:1] != ["get-token"]:
        return None
    found: dict[str, str | bool | None] = dict.fromkeys(_VALUE_OPTIONS.values())
    found.update(command="get-token", output="json", no_cache=False)
    rest = iter(argv[1:])
    for arg in rest:
        if arg == "--no-cache":
            found["no_cache"] = True
            continue
        name, eq, value = arg.partition("=")
        dest = _VALUE_OPTIONS.get(name)
        if dest is None:
            return None
        if not eq:
            value = next(rest, "-")
            if value.startswith("-"):
                return None
        found[dest] = value
    return SimpleNamespace(**found) if found["output"] == "json" else None


def _parser() -> argparse.ArgumentParser:
    import argparse
    import textwrap

    class _Parser(argparse.ArgumentParser):
        """argparse that reports usage mistakes as an error (exit 2, like every kom-async
        command) instead of raising SystemExit, so the message is in kom-async's words."""

        def error(self, message: str) -> NoReturn:
            raise _UsageError(message)

    parser = _Parser(
        prog="kom-async eks",
        description="EKS helpers. get-token prints an ExecCredential like `aws eks get-token`; "
        "discover lists the EKS clusters of several accounts and regions.",
        epilog=GET_TOKEN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    get = sub.add_parser(
        "get-token",
        help="print an EKS token as ExecCredential JSON",
        description=textwrap.fill(
            "Print a token for an EKS cluster as ExecCredential JSON, the output of "
            "`aws eks get-token`, so a kubeconfig's exec section can run `kom-async eks get-token` "
            "in its place. The token is signed in-process with the AWS credentials botocore finds "
            "(environment, --profile, SSO, instance role; --role-arn assumes a role first) and is "
            "cached on disk until shortly before it expires (--no-cache skips the cache). The "
            "apiVersion follows KUBERNETES_EXEC_INFO, as kubectl sets it. Exit status 0 with a "
            "token, 1 when AWS refuses or no credentials are found, 2 for a usage error."
        ),
        epilog=GET_TOKEN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    get.add_argument("--cluster-name", help="the EKS cluster's name (signed as x-k8s-aws-id)")
    get.add_argument("--cluster-id", help="the cluster id (EKS local clusters on Outposts)")
    get.add_argument("--region", help="AWS region (default: AWS_REGION / profile config)")
    get.add_argument("--role-arn", help="assume this IAM role to sign the token")
    get.add_argument("--profile", help="AWS profile to take credentials from")
    get.add_argument(
        "--no-cache",
        action="store_true",
        help="always mint a new token; neither read nor write the on-disk token cache",
    )
    get.add_argument("--output", default="json", choices=["json"], help=argparse.SUPPRESS)
    from kom_async.cli.eks_discover import add_arguments

    discover = sub.add_parser(
        "discover",
        help="find the EKS clusters of several accounts and regions",
        description="List and describe the EKS clusters of every account (--role-arn, --profile or "
        "the host's identity) in every --region; print them and the (account, region) pairs that "
        "failed. Exit status 0 when every pair was listed, 1 when any failed, 2 for usage errors.",
        epilog=DISCOVER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(discover)
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


def _mint(args: argparse.Namespace | SimpleNamespace) -> tuple[str, str]:
    """A token and its expirationTimestamp: from the cache, else newly signed (and cached)."""
    cluster = args.cluster_id or args.cluster_name
    cache = key = None
    if not args.no_cache:
        from kom_async.auth.eks.token_cache import TokenCache, cache_key

        cache = TokenCache()
        key = cache_key(
            cluster=cluster,
            region=args.region,
            profile=args.profile,
            role_arn=args.role_arn,
            cluster_id_flag=bool(args.cluster_id),
        )
        hit = cache.load(key)
        if hit is not None:
            return hit
    from datetime import UTC, datetime

    from kom_async.auth.eks.keys import quick_target
    from kom_async.auth.eks.sign import TOKEN_LIFETIME, presign_eks_url, token_from_url

    target = quick_target(os.environ, region=args.region, profile=args.profile, role_arn=args.role_arn)
    if target is None:
        target = _botocore_target(args)
    when = datetime.now(UTC).replace(microsecond=0)
    url = presign_eks_url(
        sts_url=target.sts_url,
        region=target.signing_region,
        service=target.signing_name,
        k8s_aws_id=cluster,
        access_key=target.keys.access_key,
        secret_key=target.keys.secret_key,
        session_token=target.keys.token,
        when=when,
    )
    token = token_from_url(url)
    expires = when + TOKEN_LIFETIME
    stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    if cache is not None and key is not None:
        cache.store(key, token, expires.timestamp(), stamp)
    return token, stamp


def _botocore_target(args: argparse.Namespace | SimpleNamespace) -> MintTarget:
    """``botocore_target`` with its failures turned into kom-async's ``EKSAuthError``."""
    from kom_async.auth.eks.keys import botocore_target, env_region

    try:
        region = env_region(args.region, os.environ)
        return botocore_target(region=region, profile=args.profile, role_arn=args.role_arn)
    except Exception as exc:
        from kom_async.auth.eks.aws_errors import map_aws_error, scrubbed

        action = f"assume role {args.role_arn}" if args.role_arn else "load AWS credentials"
        raise map_aws_error(exc, action=action) from scrubbed(exc)


def main(argv: list[str] | None = None) -> int:
    """Run ``eks get-token ...`` (a leading ``eks`` is optional); return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["eks"]:
        args_list = args_list[1:]
    try:
        args = _quick_args(args_list) or _parser().parse_args(args_list)
        if args.command == "discover":
            from kom_async.cli.eks_discover import run

            return run(args)
        if args.cluster_name and args.cluster_id:
            raise _UsageError("pass --cluster-name or --cluster-id, not both")
        if not (args.cluster_name or args.cluster_id):
            raise _UsageError("either --cluster-name or --cluster-id must be specified")
    except _UsageError as exc:
        print(f"kom-async eks: error: {exc}", file=sys.stderr)
        return 2
    api_version, warning = exec_api_version()
    if warning:
        print(warning, file=sys.stderr)
    try:
        token, expiration = _mint(args)
    except Exception as exc:
        from kom_async.errors import KomError  # not imported on the way to a token

        if not isinstance(exc, KomError):
            raise
        print(f"kom-async eks get-token: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(exec_credential(token, expiration, api_version), indent=4) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

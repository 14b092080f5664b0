"""``kom-async lab``: run the offline EKS lab in the foreground until Ctrl-C (exit 130) or
SIGTERM (exit 0)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

EXAMPLES = """examples:
  # one cluster "demo"; then, in another shell, use the kubeconfig and AWS env it writes
  kom-async lab
  source .kom-async-lab/aws.env && kubectl --kubeconfig .kom-async-lab/kubeconfig get pods -A

  # three clusters (team-1..team-3) in eu-west-1, stopping after ten minutes
  kom-async lab --clusters 3 --name team --region eu-west-1 --duration 600

  # kubeconfigs that run kom-async eks get-token instead of the AWS CLI
  kom-async lab --exec-command kom-async
"""


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kom-async lab",
        description="Run an offline EKS (moto + an HTTPS Kubernetes API) on 127.0.0.1 until "
        "Ctrl-C (exit 130) or SIGTERM (exit 0).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--clusters", type=int, default=1, help="how many clusters (default 1)")
    p.add_argument("--name", default="demo", help="cluster name, or prefix when --clusters > 1")
    p.add_argument("--region", default="us-east-1", help="AWS region (default us-east-1)")
    p.add_argument(
        "--dir",
        default=".kom-async-lab",
        help="where to write kubeconfig and env file (default ./.kom-async-lab)",
    )
    p.add_argument(
        "--exec-command",
        default="aws",
        help="exec plugin the kubeconfig runs (default: aws, i.e. aws eks get-token)",
    )
    p.add_argument("--duration", type=_positive_seconds, default=None, help="stop after N seconds")
    return p


async def _run(args: argparse.Namespace) -> int:
    from kom_async.lab import EKSLab
    from kom_async.lab.kubeconfig import merge_kubeconfigs, write_private

    out: Path = args.out
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(sig: int) -> None:
        received.append(sig)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with EKSLab(region=args.region) as lab:
            names = (
                [args.name]
                if args.clusters == 1
                else [f"{args.name}-{i}" for i in range(1, args.clusters + 1)]
            )
            configs = []
            for name in names:
                await lab.create_cluster(name, args.region)
                exec_args = None
                if args.exec_command != "aws":
                    exec_args = ["eks", "get-token", "--cluster-name", name, "--region", args.region]
                configs.append(
                    lab.kubeconfig(name, context=name, exec_command=args.exec_command, exec_args=exec_args)
                )
            kubeconfig = write_private(out / "kubeconfig", merge_kubeconfigs(configs))
            env_file = lab.write_env_file(out / "aws.env")
            print(f"kom-async lab: {len(names)} cluster(s) in {args.region}: {', '.join(names)}")
            print(f"kubeconfig: {kubeconfig}")
            print(f"env file:   {env_file}")
            print(f"AWS endpoint: {lab.aws_url}")
            print(f"try: kubectl --kubeconfig {kubeconfig} get pods -A")
            print("press Ctrl-C to stop", flush=True)
            if args.duration is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.duration)
            else:
                await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    print("kom-async lab: stopped", flush=True)
    return 130 if signal.SIGINT in received else 0  # Ctrl-C: the shell's 128 + SIGINT


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kom-async lab``; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.clusters < 1:
        print("kom-async lab: --clusters must be >= 1", file=sys.stderr)
        return 2
    # the lab extra, before any file is written; the dispatcher says what to install if it is absent
    import kom_async.lab.lab  # noqa: F401

    args.out = Path(args.dir).resolve()
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_run(args))
    except OSError as exc:
        print(f"kom-async lab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``kom-async`` command: a thin dispatcher that imports only the subcommand it runs.

``kom-async eks get-token`` runs as a kubectl exec plugin on every token fetch, so start-up
must stay lean: nothing heavy is imported here.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["main"]

# subcommand -> (module with a ``main(argv) -> int``, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("kom_async.lab.demo", "run the end-to-end EKS demo on the embedded offline lab"),
    "lab": ("kom_async.lab.cli", "run the offline EKS lab in the foreground"),
    "eks": ("kom_async.cli.eks", "EKS helpers: 'eks get-token' (drop-in for 'aws eks get-token')"),
    "mcp": ("kom_async.mcp.server", "run the MCP server (stdio or streamable HTTP)"),
    "clusters": ("kom_async.cli.clusters", "check many clusters: 'clusters check --kubeconfig-dir DIR'"),
}


def _usage() -> str:
    lines = ["usage: kom-async <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in _COMMANDS.items()]
    lines += ["", "Run 'kom-async <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kom-async`` console script."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        from kom_async import __version__

        print(f"kom-async {__version__}")
        return 0
    entry = _COMMANDS.get(args[0])
    if entry is None:
        print(f"kom-async: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(entry[0])
    except ModuleNotFoundError as exc:
        missing = exc.name or "a module"
        print(
            f"kom-async {args[0]}: {missing} is not installed; install the extra it needs, "
            "e.g. pip install 'kom-async[lab,mcp]'",
            file=sys.stderr,
        )
        return 2
    result: int = module.main(args[1:])
    return result

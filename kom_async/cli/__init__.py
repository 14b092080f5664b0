"""The ``kom-async`` command: a thin dispatcher that imports only the subcommand it runs.

``kom-async eks get-token`` runs as a kubectl exec plugin on every token fetch, so start-up
must stay lean: nothing heavy is imported here. Subcommand modules import their extra only
after parsing, so ``--help`` works with the core alone; the dispatcher turns a missing extra
into exit 1 with the line that installs it, and Ctrl-C into one line and exit 130.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["main"]

# subcommand -> (module with a ``main(argv) -> int``, one-line help, the extra it needs)
_COMMANDS: dict[str, tuple[str, str, str | None]] = {
    "demo": ("kom_async.lab.demo", "run the end-to-end EKS demo on the embedded offline lab", "lab"),
    "lab": ("kom_async.lab.cli", "run the offline EKS lab in the foreground", "lab"),
    "eks": ("kom_async.cli.eks", "EKS helpers: 'eks get-token' (drop-in for 'aws eks get-token')", None),
    "mcp": ("kom_async.mcp.server", "run the MCP server (stdio or streamable HTTP)", "mcp"),
    "clusters": (
        "kom_async.cli.clusters",
        "check many clusters: 'clusters check --kubeconfig-dir DIR'",
        None,
    ),
}


def _usage() -> str:
    lines = ["usage: kom-async <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_, _) in _COMMANDS.items()]
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
        return _run(args[0], *entry, args[1:])
    except KeyboardInterrupt:
        print(f"kom-async {args[0]}: interrupted", file=sys.stderr, flush=True)
        return 130


def _run(command: str, module_name: str, _help: str, extra: str | None, argv: list[str]) -> int:
    """Import ``command``'s module and run it; a module of its extra missing is exit 1."""
    try:
        module = importlib.import_module(module_name)
        result: int = module.main(argv)
    except ModuleNotFoundError as exc:
        if extra is None or not _is_absent(exc.name):
            raise
        from kom_async.errors import missing_extra

        print(missing_extra(f"kom-async {command}", extra, exc.name), file=sys.stderr)
        return 1
    return result


def _is_absent(module: str | None) -> bool:
    """True when ``module`` (a name from ModuleNotFoundError) is not installed at all."""
    import importlib.util

    if not module:
        return False
    try:
        return importlib.util.find_spec(module.split(".")[0]) is None
    except (ImportError, ValueError):
        return True

"""``kom-async clusters check``: register many kubeconfigs, call ``/version`` on each, report.

::

    kom-async clusters check --kubeconfig-dir ~/.kube/clusters [--kubeconfig FILE ...] [--json]

Every file in the folder (and every ``--kubeconfig``) is registered under its file name
without extension, all at once; each cluster gets ``--timeout`` seconds for registration
(token fetch included) and the ``/version`` call. The table goes to stdout, a progress bar
to stderr while it works (with ``rich`` installed: ``pip install 'kom-async[cli]'``).
Exit status: 0 when every cluster answered, 1 when any failed, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kom_async.cli.results import CheckResult
from kom_async.cli.table import render_plain, render_rich, summary
from kom_async.errors import KomError

if TYPE_CHECKING:
    from kom_async.clusters import Clusters


CHECK_EXAMPLES = """examples:
  # every context of $KUBECONFIG (else ~/.kube/config), as kubectl sees them
  kom-async clusters check

  # one cluster per file in a folder, as JSON for a script
  kom-async clusters check --kubeconfig-dir ~/.kube/clusters -o json

  # the ids of the clusters checked, one a line (cluster/<id>), no table
  kom-async clusters check --kubeconfig prod.yaml --kubeconfig staging.yaml -o name

  # only the context "prod" of the default kubeconfig, 30 s each, no header row
  kom-async clusters check --context prod --timeout 30 --no-headers
"""


def positive_number(text: str) -> float:
    """argparse type for seconds and the like: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def positive_int(text: str) -> int:
    """argparse type for counts: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kom-async clusters",
        description="Work with many clusters at once.",
        epilog=CHECK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chk = sub.add_parser(
        "check",
        help="register each kubeconfig, call /version, print a table",
        description=textwrap.fill(
            "Register each kubeconfig (id = file name without extension), call /version "
            "on every cluster concurrently and print a table. Without --kubeconfig or --kubeconfig-dir, "
            "every context of the files in $KUBECONFIG (else ~/.kube/config) is checked, id = context "
            "name. The table is plain text unless stdout is a terminal. Exit status 0 when every "
            "cluster answered, 1 if any failed, 2 for a usage error, 130 on Ctrl-C."
        ),
        epilog=CHECK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chk.add_argument(
        "--kubeconfig-dir", type=Path, action="append", default=[], metavar="DIR",
        help="a folder of kubeconfig files, one cluster each (repeatable)",
    )  # fmt: skip
    chk.add_argument(
        "--kubeconfig", type=Path, action="append", default=[], metavar="FILE",
        help="a kubeconfig file (repeatable)",
    )  # fmt: skip
    chk.add_argument(
        "--context", metavar="NAME",
        help="the kubeconfig context to use: of the default kubeconfig, check only this one; "
        "of each --kubeconfig/--kubeconfig-dir file, this one instead of its current context",
    )  # fmt: skip
    chk.add_argument(
        "-o", "--output", choices=OUTPUTS, default=None, metavar="FORMAT",
        help="table (default), wide (adds the kubeconfig and context), json, yaml, or name "
        "(cluster/<id>, one a line)",
    )  # fmt: skip
    chk.add_argument("--json", action="store_true", help="same as -o json")
    chk.add_argument(
        "--no-headers", action="store_true",
        help="print the table without its header row and summary line (as kubectl --no-headers)",
    )  # fmt: skip
    chk.add_argument(
        "--timeout", type=positive_number, default=10.0, metavar="S",
        help="seconds each cluster gets to register and answer (default 10)",
    )  # fmt: skip
    chk.add_argument(
        "--concurrency", type=positive_int, default=16, metavar="N",
        help="clusters checked at once (default 16)",
    )  # fmt: skip
    chk.add_argument("-v", "--verbose", action="store_true", help="log what kom-async does to stderr")
    chk.add_argument(
        "--no-color", action="store_true", help="plain text even on a terminal (also: NO_COLOR set)"
    )
    return parser


OUTPUTS = ("table", "wide", "json", "yaml", "name")


def default_targets(environ: dict[str, str] | None = None) -> list[tuple[str, None, str]]:
    """``(context name, None, context)`` for every context of the kubeconfig kubectl would use
    (``$KUBECONFIG`` merged as kubectl merges it, else ``~/.kube/config``); ``None`` in place
    of a file means "register it with ``Clusters.register_default``"."""
    from kom_async.config.defaults import default_kubeconfig_paths, merge_kubeconfigs

    merged = merge_kubeconfigs(default_kubeconfig_paths(environ))
    contexts = merged.get("contexts") or []
    return [(str(c["name"]), None, str(c["name"])) for c in contexts if isinstance(c, dict) and c.get("name")]


def kubeconfig_files(dirs: Sequence[Path], files: Sequence[Path]) -> list[tuple[str, Path]]:
    """``(cluster id, path)`` for every file in ``dirs`` (sorted, dotfiles skipped) and ``files``.

    The id is the file name without extension; a repeated id gets ``-2``, ``-3``... appended.
    """
    paths: list[Path] = []
    for folder in dirs:
        if not folder.is_dir():
            raise FileNotFoundError(f"--kubeconfig-dir {folder}: not a folder")
        paths += sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"--kubeconfig {file}: no such file")
        paths.append(file)
    out: list[tuple[str, Path]] = []
    seen: dict[str, int] = {}
    for path in paths:
        base = path.stem or path.name
        seen[base] = seen.get(base, 0) + 1
        out.append((base if seen[base] == 1 else f"{base}-{seen[base]}", path))
    return out


async def check(
    targets: Sequence[tuple[str, Path] | tuple[str, Path | None, str | None]],
    *,
    timeout: float = 10.0,
    concurrency: int = 16,
    on_done: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Register every ``(id, kubeconfig path)``, call ``/version`` on each; one result each,
    in the order given (a third item picks a context). One broken or slow cluster never holds
    up the others."""
    import anyio

    from kom_async.clusters import Clusters

    limiter = anyio.CapacityLimiter(max(1, concurrency))
    results: list[CheckResult | None] = [None] * len(targets)
    async with Clusters() as clusters:

        async def one(index: int, cluster_id: str, path: Path | None, context: str | None) -> None:
            async with limiter:
                result = results[index] = await _check_one(clusters, cluster_id, path, timeout, context)
            if on_done is not None:
                on_done(result)

        async with anyio.create_task_group() as group:
            for index, (cid, path, *rest) in enumerate(targets):
                group.start_soon(one, index, cid, path, rest[0] if rest else None)
    return [r for r in results if r is not None]


async def _check_one(
    clusters: Clusters, cluster_id: str, path: Path | None, timeout: float, context: str | None = None
) -> CheckResult:
    """Register one kubeconfig (``path`` None: the default one, see :func:`default_targets`)
    and call ``/version``; every failure becomes the result's ``error``."""
    import anyio

    from kom_async.config.kubeconfig import load_kubeconfig

    if path is None:
        from kom_async.config.defaults import default_kubeconfig_paths, merge_kubeconfigs

        paths = default_kubeconfig_paths()
        source: Any = merge_kubeconfigs(paths)
        where, base = os.pathsep.join(map(str, paths)), paths[0].parent
    else:
        source, where, base = path, str(path), None
    result = CheckResult(id=cluster_id, kubeconfig=where, context=context)
    try:
        selection = load_kubeconfig(source, context=context, base_dir=base)
        from kom_async.config.urls import redact_url

        result.server = redact_url(selection.server)
        result.auth_kind = selection.auth.kind
        result.eks = selection.auth.kind == "eks-exec"
        with anyio.fail_after(timeout):
            if path is None:
                k = await clusters.register_default(cluster_id, context, exec_timeout=timeout)
            else:
                k = await clusters.register_by_path(
                    path, cluster_id=cluster_id, context=context, exec_timeout=timeout
                )
            cluster = clusters.get(cluster_id)
            result.eks = cluster.is_eks
            if cluster.token_provider is not None:
                result.token_source = cluster.token_provider.source.kind
            stats = cluster.auth_stats
            if stats is not None and stats.expires_at is not None:
                result.token_expires_at = stats.expires_at.astimezone(UTC).isoformat()
            started = time.perf_counter()
            # GET /version (kubernetes_asyncio's VersionApi asks for "/version/")
            info = await k.api_client.call_api(
                "/version",
                "GET",
                header_params={"Accept": "application/json"},
                response_types_map={200: "VersionInfo"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
            result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
            result.server_version = str(info.git_version)
    except TimeoutError:
        result.error = f"no answer within {timeout:g} s"
    except Exception as exc:
        result.error = _describe(exc)
    return result


STATUS_HINTS = {
    401: "the server refused the credentials; check that the token (or what the exec plugin "
    "prints) is current and meant for this cluster, e.g. kubectl --kubeconfig FILE get --raw /version",
    403: "the credentials were accepted but may not GET /version; check the user's RBAC "
    "(kubectl auth can-i get /version) or, on EKS, the IAM identity's access entry",
}
"""What to check when a cluster answers /version with this status (a row's error)."""


def _describe(exc: BaseException) -> str:
    """A one-line, secret-free description of why a cluster failed."""
    from kom_async.errors import KomError

    if isinstance(exc, KomError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if isinstance(status, int) and type(exc).__name__ == "ApiException":
        text = f"HTTP {status} {reason or ''}".strip()
        return f"{text}: {STATUS_HINTS[status]}" if status in STATUS_HINTS else text
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


async def amain(
    argv: Sequence[str],
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    force_terminal: bool | None = None,
) -> int:
    """``main`` for callers already in an event loop; ``force_terminal`` forces the progress bar."""
    # long: the command's whole flow (inputs, progress, table, exit code) in one place
    args = _parser().parse_args(list(argv))
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if args.json and args.output not in (None, "json"):
        print(f"kom-async clusters check: --json and -o {args.output} contradict; pick one", file=stderr)
        return 2
    fmt = "json" if args.json else (args.output or "table")
    try:
        targets: list[Any] = [
            (cid, path, args.context) for cid, path in kubeconfig_files(args.kubeconfig_dir, args.kubeconfig)
        ]
        if not args.kubeconfig_dir and not args.kubeconfig:
            targets = list(default_targets())
            if args.context is not None:
                targets = [t for t in targets if t[2] == args.context]
                if not targets:
                    print(
                        f"kom-async clusters check: --context {args.context}: no such context in the "
                        "default kubeconfig (kubectl config get-contexts lists them)",
                        file=stderr,
                    )
                    return 2
    except FileNotFoundError as exc:
        print(f"kom-async clusters check: {exc}", file=stderr)
        return 2
    except KomError as exc:  # no default kubeconfig, or an unreadable one
        print(f"kom-async clusters check: {exc}; pass --kubeconfig FILE or --kubeconfig-dir DIR", file=stderr)
        return 2
    if not targets:
        print(
            "kom-async clusters check: the kubeconfig has no context: pass --kubeconfig FILE or "
            "--kubeconfig-dir DIR, or set KUBECONFIG",
            file=stderr,
        )
        return 2
    if _has_rich() and (force_terminal if force_terminal is not None else _isatty(stderr)):
        # only on a terminal: rich 13.0's disabled Progress still writes blank lines to a pipe
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        err = Console(file=stderr, force_terminal=force_terminal)
        progress = Progress(
            TextColumn("checking clusters"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        with progress:
            task = progress.add_task("", total=len(targets))

            def advance(result: CheckResult) -> None:
                progress.update(
                    task, advance=1, description=f"{result.id}: {'ok' if result.ok else 'failed'}"
                )

            results = await check(
                targets, timeout=args.timeout, concurrency=args.concurrency, on_done=advance
            )
    else:
        results = await check(targets, timeout=args.timeout, concurrency=args.concurrency)
    headers = not args.no_headers
    _write(results, fmt, stdout, force_terminal=force_terminal, no_color=args.no_color, headers=headers)
    return 1 if any(not r.ok for r in results) else 0


def _write(
    results: Sequence[CheckResult],
    fmt: str,
    out: IO[str],
    *,
    force_terminal: bool | None,
    no_color: bool,
    headers: bool = True,
) -> None:
    """Print the results as ``fmt``; the rich table only when ``out`` is a terminal."""
    failed = sum(not r.ok for r in results)
    doc = {"clusters": [r.as_json() for r in results], "ok": len(results) - failed, "failed": failed}
    if fmt == "json":
        out.write(json.dumps(doc, indent=2) + "\n")
    elif fmt == "yaml":
        import yaml

        out.write(yaml.safe_dump(doc, sort_keys=False))
    elif fmt == "name":
        out.write("".join(f"cluster/{r.id}\n" for r in results))  # kind/name, as kubectl -o name
    else:
        wide = fmt == "wide"
        terminal = force_terminal if force_terminal is not None else _isatty(out)
        if terminal and _has_rich() and not no_color and not os.environ.get("NO_COLOR"):
            from rich.console import Console

            width = None if _isatty(out) else 200  # a forced "terminal" that is not one: no folding
            console = Console(file=out, force_terminal=True, width=width)
            hidden = render_rich(results, console, wide=wide, headers=headers)
            if headers:
                note = f" ({', '.join(hidden)} hidden to fit; -o json shows all)" if hidden else ""
                console.print(summary(results) + note, highlight=False)
        else:
            render_plain(results, out, wide=wide, headers=headers)
            if headers:
                out.write(summary(results) + "\n")


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kom-async clusters``; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "-v" in args or "--verbose" in args
    if not logging.getLogger().handlers:  # errors are in the table; logs only on request
        logging.basicConfig(
            level=logging.INFO if verbose else logging.CRITICAL,
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())

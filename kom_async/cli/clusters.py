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
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from kom_async.clusters import Clusters


@dataclass
class CheckResult:
    """What ``clusters check`` learned about one kubeconfig (one row of the table)."""

    id: str
    kubeconfig: str
    server: str | None = None
    auth_kind: str | None = None
    eks: bool | None = None
    token_source: str | None = None
    token_expires_at: str | None = None
    server_version: str | None = None
    latency_ms: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the cluster registered and answered ``/version``."""
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (what ``--json`` prints per cluster)."""
        return {**asdict(self), "ok": self.ok}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kom-async clusters", description="Work with many clusters at once."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chk = sub.add_parser(
        "check",
        help="register each kubeconfig, call /version, print a table",
        description="Register each kubeconfig (id = file name without extension), call /version "
        "on every cluster concurrently and print a table. Exit status 1 if any cluster failed.",
    )
    chk.add_argument(
        "--kubeconfig-dir", type=Path, action="append", default=[], metavar="DIR",
        help="a folder of kubeconfig files, one cluster each (repeatable)",
    )  # fmt: skip
    chk.add_argument(
        "--kubeconfig", type=Path, action="append", default=[], metavar="FILE",
        help="a kubeconfig file (repeatable)",
    )  # fmt: skip
    chk.add_argument("--json", action="store_true", help="print JSON instead of a table")
    chk.add_argument(
        "--timeout", type=float, default=10.0, metavar="S",
        help="seconds each cluster gets to register and answer (default 10)",
    )  # fmt: skip
    chk.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="clusters checked at once (default 16)"
    )
    chk.add_argument("-v", "--verbose", action="store_true", help="log what kom-async does to stderr")
    return parser


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
    targets: Sequence[tuple[str, Path]],
    *,
    timeout: float = 10.0,
    concurrency: int = 16,
    on_done: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Register every ``(id, kubeconfig path)``, call ``/version`` on each; one result each,
    in the order given. One broken or slow cluster never holds up the others."""
    import anyio

    from kom_async.clusters import Clusters

    limiter = anyio.CapacityLimiter(max(1, concurrency))
    results: list[CheckResult | None] = [None] * len(targets)
    async with Clusters() as clusters:

        async def one(index: int, cluster_id: str, path: Path) -> None:
            async with limiter:
                result = results[index] = await _check_one(clusters, cluster_id, path, timeout)
            if on_done is not None:
                on_done(result)

        async with anyio.create_task_group() as group:
            for index, (cid, path) in enumerate(targets):
                group.start_soon(one, index, cid, path)
    return [r for r in results if r is not None]


async def _check_one(clusters: Clusters, cluster_id: str, path: Path, timeout: float) -> CheckResult:
    import anyio

    from kom_async.config.kubeconfig import load_kubeconfig

    result = CheckResult(id=cluster_id, kubeconfig=str(path))
    try:
        selection = load_kubeconfig(path)
        from kom_async.config.urls import redact_url

        result.server = redact_url(selection.server)
        result.auth_kind = selection.auth.kind
        result.eks = selection.auth.kind == "eks-exec"
        with anyio.fail_after(timeout):
            k = await clusters.register_by_path(path, cluster_id=cluster_id, exec_timeout=timeout)
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


def _describe(exc: BaseException) -> str:
    """A one-line, secret-free description of why a cluster failed."""
    from kom_async.errors import KomError

    if isinstance(exc, KomError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if isinstance(status, int) and type(exc).__name__ == "ApiException":
        return f"HTTP {status} {reason or ''}".strip()
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- output ----------------------------------------------------------------------------------
COLUMNS = ("id", "server", "auth", "EKS", "token expiry", "version", "latency", "error")


def rows(results: Sequence[CheckResult], now: datetime | None = None) -> list[tuple[str, ...]]:
    """The table's cells, as text, one tuple per result (columns: :data:`COLUMNS`)."""
    now = now or datetime.now(UTC)
    out: list[tuple[str, ...]] = []
    for r in results:
        auth = r.auth_kind or "-"
        if r.token_source and r.token_source not in ("static",):
            auth = f"{auth} ({r.token_source})"
        out.append(
            (
                r.id,
                r.server or "-",
                auth,
                "-" if r.eks is None else ("yes" if r.eks else "no"),
                _expiry(r, now),
                r.server_version or "-",
                "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms",
                r.error or "",
            )
        )
    return out


def _expiry(r: CheckResult, now: datetime) -> str:
    if r.token_expires_at is None:
        return "never" if r.token_source in ("static", "token-file") else "-"
    at = datetime.fromisoformat(r.token_expires_at)
    minutes = max(0, int((at - now).total_seconds() // 60))
    return f"{at:%H:%M:%S}Z (in {minutes} min)"


def render_plain(results: Sequence[CheckResult], out: IO[str]) -> None:
    """The table without rich: fixed-width columns."""
    table = [COLUMNS, *rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def render_rich(results: Sequence[CheckResult], console: Console) -> None:
    """The table with rich: failed clusters in red, a summary line under it."""
    from rich.table import Table

    failed = sum(not r.ok for r in results)
    table = Table(title="kom-async clusters check", title_justify="left")
    for name in COLUMNS:
        table.add_column(name, overflow="fold", no_wrap=name in ("id", "latency", "EKS"))
    for r, cells in zip(results, rows(results), strict=True):
        table.add_row(*cells, style=None if r.ok else "red")
    console.print(table)
    console.print(f"{len(results) - failed} ok, {failed} failed")


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
    # long on purpose: the command's whole flow (inputs, progress, table, exit code) in one place
    args = _parser().parse_args(list(argv))
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        targets = kubeconfig_files(args.kubeconfig_dir, args.kubeconfig)
    except FileNotFoundError as exc:
        print(f"kom-async clusters check: {exc}", file=stderr)
        return 2
    if not targets:
        print("kom-async clusters check: no kubeconfig given (--kubeconfig-dir or --kubeconfig)", file=stderr)
        return 2
    if _has_rich():
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
    if args.json:
        failed = sum(not r.ok for r in results)
        doc = {"clusters": [r.as_json() for r in results], "ok": len(results) - failed, "failed": failed}
        stdout.write(json.dumps(doc, indent=2) + "\n")
    elif _has_rich():
        from rich.console import Console

        out = Console(file=stdout, force_terminal=force_terminal)
        if not out.is_terminal:
            out = Console(file=stdout, width=200, no_color=True)
        render_rich(results, out)
    else:
        render_plain(results, stdout)
    return 1 if any(not r.ok for r in results) else 0


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

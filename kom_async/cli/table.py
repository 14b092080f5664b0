"""The ``clusters check`` table, as kubectl prints tables: upper-case headers (``--no-headers``
drops them), plain aligned text when piped, a rich table on a terminal that fits its width
(80 columns included: long cells fold inside their column, nothing wraps the frame)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from kom_async.cli.results import CheckResult

COLUMNS = ("ID", "SERVER", "AUTH", "EKS", "EXPIRES", "VERSION", "LATENCY", "ERROR")
WIDE_COLUMNS = (*COLUMNS[:-1], "KUBECONFIG", "CONTEXT", "ERROR")
# on a terminal too narrow for every column, these go first (in this order); -o wide and
# -o json still show them. The ERROR column folds: it is the sentence that says what to do
_DROP_ORDER = ("KUBECONFIG", "SERVER", "CONTEXT", "EXPIRES", "AUTH")
_ERROR_MIN = 24


def rows(
    results: Sequence[CheckResult], now: datetime | None = None, *, wide: bool = False
) -> list[tuple[str, ...]]:
    """The table's cells, as text, one tuple per result (columns: :data:`COLUMNS`, or
    :data:`WIDE_COLUMNS` when ``wide``)."""
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
                *((r.kubeconfig, r.context or "(current)") if wide else ()),
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


def summary(results: Sequence[CheckResult]) -> str:
    failed = sum(not r.ok for r in results)
    return f"{len(results) - failed} ok, {failed} failed"


def render_plain(
    results: Sequence[CheckResult], out: IO[str], *, wide: bool = False, headers: bool = True
) -> None:
    """The table as plain text in aligned columns (what a pipe or ``grep`` gets)."""
    columns = WIDE_COLUMNS if wide else COLUMNS
    table = [*([columns] if headers else []), *rows(results, wide=wide)]
    if not table:
        return
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        out.write("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def fitting_columns(columns: Sequence[str], cells: Sequence[tuple[str, ...]], width: int) -> list[str]:
    """``columns`` less those (in :data:`_DROP_ORDER`) a ``width``-wide terminal has no room for:
    every kept column shows its longest cell on one line, and ERROR keeps room to fold into."""

    def need(kept: list[str]) -> int:
        total = 0
        for name in kept:
            i = columns.index(name)
            longest = max([len(name), *(len(row[i]) for row in cells)])
            total += (min(longest, _ERROR_MIN) if name == "ERROR" else longest) + 3  # padding, rule
        return total

    kept = list(columns)
    for name in _DROP_ORDER:
        if need(kept) <= width:
            break
        if name in kept:
            kept.remove(name)
    return kept


def render_rich(
    results: Sequence[CheckResult], console: Console, *, wide: bool = False, headers: bool = True
) -> list[str]:
    """The table with rich: failed clusters in red, no title (kubectl has none; a title is what
    wrapped badly on 80 columns), the columns that fit ``console``'s width. Returns the names
    of the columns left out for want of room."""
    from rich import box
    from rich.table import Table

    columns = WIDE_COLUMNS if wide else COLUMNS
    cells = rows(results, wide=wide)
    kept = fitting_columns(columns, cells, console.width)
    table = Table(box=box.SIMPLE_HEAD, show_header=headers, pad_edge=False)
    for name in kept:
        table.add_column(name, overflow="fold", no_wrap=name != "ERROR", min_width=len(name))
    for r, row in zip(results, cells, strict=True):
        table.add_row(*(row[columns.index(name)] for name in kept), style=None if r.ok else "red")
    console.print(table)
    return [name for name in columns if name not in kept]

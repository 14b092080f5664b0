"""Turning scenario results into a console table, ``summary.md`` and ``chart.png``."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ScenarioResult

__all__ = ["console_report", "markdown_summary", "write_chart"]


def _verdict(result: ScenarioResult) -> str:
    if result.error is not None:
        return "CRASHED"
    if result.target_met is None:
        return "n/a"
    return "yes" if result.target_met else "NO"


def _table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Rows of dicts as aligned plain-text lines."""
    if not rows:
        return []
    cols = list(rows[0])
    cells = [[str(row.get(c, "")) for c in cols] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return out


def console_report(results: Sequence[ScenarioResult], machine: dict[str, Any], quick: bool) -> str:
    """The text printed at the end of a run."""
    out = [
        f"kom-async benchmarks{' (QUICK mode: reduced sizes)' if quick else ''} — "
        f"{machine['cpu_count']} CPUs, Python {machine['python']}, {machine['platform']}",
        "",
    ]
    for r in results:
        out.append(f"== {r.title}  [{r.seconds:.1f} s]  target met: {_verdict(r)}")
        if r.error is not None:
            out.append(f"   crashed: {r.error.strip().splitlines()[-1]}")
            out.append("")
            continue
        out.append(f"   {r.headline}")
        out.append(f"   target: {r.target}")
        out += ["   " + line for line in _table(r.rows)]
        out += [f"   note: {n}" for n in r.notes]
        out.append("")
    return "\n".join(out)


def _md_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(str(row.get(c, "")) for c in cols) + " |" for row in rows]
    return out


def markdown_summary(
    results: Sequence[ScenarioResult], machine: dict[str, Any], quick: bool, total_seconds: float
) -> str:
    """``summary.md``: verdicts first, then each scenario's table and notes."""
    load = machine.get("loadavg_start")
    out = [
        "# kom-async benchmark results",
        "",
        f"Run {machine['timestamp']} on {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
        f"Python {machine['python']}, {machine['platform']}"
        + (f"; load average at start {load[0]:.2f}" if load else "")
        + f". Total {total_seconds:.0f} s."
        + (" **Quick mode: reduced sizes.**" if quick else ""),
        "",
        "Reproduce with `nox -s bench` or `python -m benchmarks` (`--quick` for a smoke run). "
        "Raw numbers: [latest.json](latest.json).",
        "",
        "![benchmark chart](chart.png)",
        "",
        "| scenario | headline | target | met |",
        "|---|---|---|---|",
    ]
    for r in results:
        headline = r.headline if r.error is None else f"crashed: {r.error.strip().splitlines()[-1]}"
        out.append(f"| {r.title} | {headline} | {r.target} | {_verdict(r)} |")
    for r in results:
        out += ["", f"## {r.title}", ""]
        if r.error is not None:
            out += ["```", r.error.strip(), "```"]
            continue
        out += [f"**{r.headline}**", "", f"Target: {r.target} — met: **{_verdict(r)}**.", ""]
        out += _md_table(r.rows)
        if r.notes:
            out.append("")
            out += [f"- {n}" for n in r.notes]
    out.append("")
    return "\n".join(out)


# -- chart ----------------------------------------------------------------------------------
def _by_name(results: Sequence[ScenarioResult]) -> dict[str, ScenarioResult]:
    return {r.name: r for r in results if r.error is None}


def _label_bars(ax: Any, bars: Any, fmt: str, *, zeros: bool = False) -> None:
    for bar in bars:
        height = bar.get_height()
        if math.isfinite(height) and (height > 0 or zeros):
            ax.annotate(
                fmt.format(height),
                (bar.get_x() + bar.get_width() / 2, height),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )


def _short(label: str) -> str:
    return (
        label.replace("kubernetes_asyncio", "k8s_asyncio")
        .replace(" (simulated)", "*")
        .replace("kom-async ", "kom ")
        .replace(" (native provider)", "")
    )


def _access(ax: Any, r: ScenarioResult) -> None:
    ns = r.metrics["ns_per_call"]
    modes = list(next(iter(ns.values())))
    labels = list(ns)
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        xs = [m + i * width for m in range(len(modes))]
        bars = ax.bar(xs, [ns[label][m] for m in modes], width, label=_short(label))
        _label_bars(ax, bars, "{:.0f}")
    ax.set_xticks([m + width * (len(labels) - 1) / 2 for m in range(len(modes))], modes)
    ax.set_ylim(top=max(v for label in labels for v in ns[label].values()) * 1.3)
    ax.set_ylabel("ns per get_token() call (median of rounds)")
    ax.legend(fontsize=7)


def _storm(ax: Any, r: ScenarioResult) -> None:
    med = r.metrics["medians"]
    labels = list(med)
    stats = ["p50_ms", "p99_ms", "max_ms"]
    width = 0.8 / len(stats)
    for i, stat in enumerate(stats):
        xs = [k + i * width for k in range(len(labels))]
        bars = ax.bar(xs, [med[label][stat] for label in labels], width, label=stat.replace("_ms", ""))
        _label_bars(ax, bars, "{:.0f}")
    ax.set_xticks(
        [k + width for k in range(len(labels))],
        [f"{textwrap.fill(_short(label), 18)}\n{int(med[label]['fetches']):,} fetches" for label in labels],
        fontsize=7,
    )
    ax.set_ylabel(f"wait (ms), {r.metrics['coroutines']:,} coroutines")
    ax.legend(fontsize=7)


def _minting(ax: Any, r: ScenarioResult) -> None:
    m = r.metrics
    labels = ["kom native", "aws eks get-token", "k8s_asyncio\nExecProvider"]
    values = [m["native_us_per_token"] / 1e3, m["cli_ms_per_token"], m["exec_provider_ms_per_token"]]
    bars = ax.bar(labels, values, color=["tab:green", "tab:red", "tab:orange"])
    ax.set_yscale("log")
    _label_bars(ax, bars, "{:.3g} ms")
    ax.set_ylabel("ms per token (log)")
    ax.tick_params(axis="x", labelsize=7)


def _requests(ax: Any, r: ScenarioResult) -> None:
    rps = r.metrics["requests_per_second"]
    labels = sorted({key.rsplit(" @", 1)[0] for key in rps}, key=lambda s: (not s.startswith("kom"), s))
    concs = sorted({int(key.rsplit("@", 1)[1]) for key in rps})
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        xs = [c + i * width for c in range(len(concs))]
        bars = ax.bar(xs, [rps[f"{label} @{c}"] for c in concs], width, label=_short(label))
        _label_bars(ax, bars, "{:.0f}")
    ax.set_xticks(
        [c + width * (len(labels) - 1) / 2 for c in range(len(concs))], [f"concurrency {c}" for c in concs]
    )
    ax.set_ylim(top=max(rps.values()) * 1.45)  # room for the legend and the note above the bars
    ax.set_ylabel("list_namespaced_pod req/s (median of rounds)")
    ax.legend(fontsize=7, loc="upper left")
    m = r.metrics
    diff = m["eks_slowdown_vs_kom_static"]
    noise = m["noise_floor_static_vs_eks_sized_static"]
    ax.text(
        0.98,
        0.97,
        "EKS vs static, paired rounds:\n"
        + "\n".join(f"c={c}: {-float(diff[c]):+.1%} (noise floor {float(noise[c]):.1%})" for c in diff),
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=7,
        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"},
    )


def _longrun(ax: Any, r: ScenarioResult) -> None:
    rows = r.rows
    labels = [_short(row["client"]).replace(" load_kube_config", "\nload_kube_config") for row in rows]
    width = 0.4
    xs = range(len(rows))
    b1 = ax.bar([x - width / 2 for x in xs], [row["failed"] for row in rows], width, label="failed requests")
    b2 = ax.bar(
        [x + width / 2 for x in xs], [row["401 round trips"] for row in rows], width, label="401 round trips"
    )
    _label_bars(ax, b1, "{:.0f}", zeros=True)
    _label_bars(ax, b2, "{:.0f}", zeros=True)
    ax.set_xticks(list(xs), [label.replace(" + ", "\n+ ") for label in labels], fontsize=6)
    ax.set_ylabel(f"count in one virtual hour ({rows[0]['requests']} requests)")
    ax.legend(fontsize=7)


def _scale(ax: Any, r: ScenarioResult) -> None:
    times = r.metrics["jitter"]["refresh_deadlines_s"]
    end = max(times) if times else 60.0
    edges = [i * 0.25 for i in range(int(end / 15) + 2)]  # 15-second bins, in minutes
    ax.hist([t / 60 for t in times], bins=edges, color="tab:purple")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.25)  # room for the note
    ax.set_xlabel("virtual minutes since the tokens were minted (all clusters at once)")
    ax.set_ylabel("refresh deadlines per 15 s")
    m = r.metrics
    ax.text(
        0.02,
        0.97,
        f"{m['clusters']:,} clusters, {m['wakeups_per_token']:.2f} wake-ups/token\n"
        f"first refreshes spread {m['jitter']['first_refresh_spread_s']:.0f} s, "
        f"peak {m['jitter']['peak_refreshes_in_one_second']}/s",
        transform=ax.transAxes,
        va="top",
        fontsize=7,
        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"},
    )


_PANELS = {
    "cached_access": _access,
    "refresh_storm": _storm,
    "token_minting": _minting,
    "request_overhead": _requests,
    "long_run": _longrun,
    "scale": _scale,
}


def write_chart(results: Sequence[ScenarioResult], path: Path, quick: bool) -> None:
    """One panel per scenario that ran, in a 2x3 grid, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = _by_name(results)
    fig, axes = plt.subplots(2, 3, figsize=(18, 10))
    for ax, (name, draw) in zip(axes.flat, _PANELS.items(), strict=True):
        r = done.get(name)
        if r is None:
            ax.axis("off")
            ax.text(0.5, 0.5, f"{name}: not run", ha="center", va="center")
            continue
        draw(ax, r)
        verdict = _verdict(r)
        ax.set_title(f"{r.title} — target met: {verdict}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("kom-async benchmarks" + (" (quick mode)" if quick else ""), fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

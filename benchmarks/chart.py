"""``chart.png``: one panel per scenario (three for the peers), drawn from scenario results."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ScenarioResult
from benchmarks.report import verdict_text

__all__ = ["write_chart"]


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
    procs = m["processes"]
    inproc = m["in_process"]
    labels = [
        textwrap.fill(label.replace("kom-async eks get-token", "kom-async"), 16) + "\n(process)"
        for label in procs
    ]
    values = [p["wall_ms"]["median"] for p in procs.values()]
    errs = [
        [v - p["wall_ms"]["ci95"][0] for v, p in zip(values, procs.values(), strict=True)],
        [p["wall_ms"]["ci95"][1] - v for v, p in zip(values, procs.values(), strict=True)],
    ]
    labels += ["kom in-process\ncold 1st token", "kom in-process\nwarm (kept)"]
    values += [inproc["cold_first_token_ms"]["median"], inproc["warm_kept_source_us"]["median"] / 1e3]
    errs[0] += [0, 0]
    errs[1] += [0, 0]
    colors = ["tab:red" if label.startswith("aws") else "tab:green" for label in labels]
    bars = ax.bar(labels, values, yerr=errs, capsize=3, color=colors)
    ax.set_yscale("log")
    _label_bars(ax, bars, "{:.3g} ms")
    ax.set_ylabel("ms per token, median, 95 % CI (log)")
    ax.tick_params(axis="x", labelsize=6)


def _peer_bars(ax: Any, rows: list[dict[str, Any]], stats: list[str], ylabel: str) -> None:
    width = 0.8 / len(stats)
    for i, stat in enumerate(stats):
        xs = [k + i * width for k in range(len(rows))]
        bars = ax.bar(xs, [row[stat] or 0 for row in rows], width, label=stat)
        _label_bars(ax, bars, "{:.0f}", zeros=True)
    ax.set_xticks(
        [k + width * (len(stats) - 1) / 2 for k in range(len(rows))],
        [textwrap.fill(_short(row["client"]), 14) for row in rows],
        fontsize=6,
    )
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def _peers_steady(ax: Any, r: ScenarioResult) -> None:
    m = r.metrics
    rows = list(m["steady"].values())
    _peer_bars(
        ax,
        rows,
        ["failed", "401 round trips", "plugin runs"],
        f"count, {rows[0]['requests']} requests over 4 token lifetimes",
    )
    ax.set_title(f"(a) {m['token_lifetime_s']:.0f} s exec tokens, steady load", fontsize=9)


def _peers_burst(ax: Any, r: ScenarioResult) -> None:
    m = r.metrics
    rows = list(m["burst_after_expiry"].values())
    _peer_bars(
        ax, rows, ["failed", "plugin runs", "max ms"], f"{m['burst']} concurrent requests after expiry"
    )
    ax.set_yscale("symlog")


def _peers_overhead(ax: Any, r: ScenarioResult) -> None:
    over = r.metrics["overhead"]
    labels = list(over)
    width = 0.4
    xs = range(len(labels))
    for i, kind in enumerate(("static_ms", "exec_ms")):
        bars = ax.bar(
            [x + (i - 0.5) * width for x in xs],
            [over[k][kind] for k in labels],
            width,
            label=kind.replace("_ms", " token"),
        )
        _label_bars(ax, bars, "{:.2f}")
    ax.set_xticks(list(xs), [textwrap.fill(_short(k), 14) for k in labels], fontsize=6)
    ax.set_ylabel("ms per list request, warm, concurrency 1")
    ax.legend(fontsize=7)


def _cold(ax: Any, r: ScenarioResult) -> None:
    clients = r.metrics["clients"]
    kinds = sorted({key.split(" | ")[1] for key in clients})
    names = list(
        dict.fromkeys(key.split(" | ")[0].replace(" (native token, no aws process)", "") for key in clients)
    )
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        values = []
        for name in names:
            match = [v for key, v in clients.items() if key.startswith(name) and key.endswith(kind)]
            values.append(match[0]["first_request_ms"] if match else 0)
        bars = ax.bar([k + i * width for k in range(len(names))], values, width, label=kind)
        _label_bars(ax, bars, "{:.0f}")
    ax.set_xticks(
        [k + width * (len(kinds) - 1) / 2 for k in range(len(names))],
        [textwrap.fill(_short(n), 14) for n in names],
        fontsize=6,
    )
    ax.set_ylabel("ms from process start to first list (median)")
    ax.legend(fontsize=7)


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


_PANELS: list[tuple[str, Any, str]] = [
    ("cached_access", _access, ""),
    ("refresh_storm", _storm, ""),
    ("token_minting", _minting, ""),
    ("request_overhead", _requests, ""),
    ("long_run", _longrun, ""),
    ("scale", _scale, ""),
    ("peers", _peers_steady, "(a) steady load"),
    ("peers", _peers_burst, "(b) burst after expiry"),
    ("peers", _peers_overhead, "(c) exec vs static token"),
    ("cold_start", _cold, ""),
]


def write_chart(results: Sequence[ScenarioResult], path: Path, quick: bool) -> None:
    """One panel per scenario (three for the peers) in a 3x4 grid, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = _by_name(results)
    fig, axes = plt.subplots(3, 4, figsize=(24, 15))
    for ax in axes.flat[len(_PANELS) :]:
        ax.axis("off")
    for ax, (name, draw, part) in zip(axes.flat, _PANELS, strict=False):
        r = done.get(name)
        if r is None:
            ax.axis("off")
            ax.text(0.5, 0.5, f"{name}: not run", ha="center", va="center")
            continue
        draw(ax, r)
        title = f"{r.title} {part}".strip()
        ax.set_title(textwrap.fill(f"{title} — verdict: {verdict_text(r)}", 60), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("kom-async benchmarks" + (" (quick mode)" if quick else ""), fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""mkdocs hooks for the documentation site: the benchmark chart, kept in benchmarks/results/,
is copied into the site, and the performance page's link to it (relative to docs/, so that
it also shows on the repository host) is pointed at the copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
CHART = "benchmarks/results/chart.png"
SITE_CHART = "assets/benchmark-chart.png"


def on_files(files: Files, config: Any) -> Files:
    """Add the chart to the site's files."""
    files.append(File.generated(config, SITE_CHART, abs_src_path=str(ROOT / CHART)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point ``../benchmarks/results/chart.png`` at the copy, relative to the page."""
    depth = page.file.src_uri.count("/")
    return markdown.replace(f"](../{CHART})", f"]({'../' * depth}{SITE_CHART})")

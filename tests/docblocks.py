"""The code blocks of README.md and docs/*.md, as the doc tests see them.

A block is a fenced ``python``, ``bash``, ``sh`` or ``shell`` block. An HTML comment on the
line before its fence, ``<!-- skip: REASON -->``, marks it as one that cannot run against the
lab (real AWS, a server that runs until stopped...); the reason is what the test reports.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNNABLE = {"python": "python", "bash": "shell", "sh": "shell", "shell": "shell"}
_FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_SKIP = re.compile(r"^<!--\s*skip:\s*(.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One runnable block: where it is, what it is, and why it is skipped (if it is)."""

    path: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    lang: str  # python or shell
    code: str
    skip: str | None

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def kind(self) -> str:
        """pytest (defines tests), script (calls asyncio.run), fragment (other Python), shell."""
        if self.lang == "shell":
            return "shell"
        if re.search(r"^(async )?def test_", self.code, re.M):
            return "pytest"
        if re.search(r"^asyncio\.run\(", self.code, re.M):
            return "script"
        return "fragment"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "id": self.id, "kind": self.kind}


def pages() -> list[Path]:
    """README.md first, then every page of docs/ in name order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(path: Path) -> list[Block]:
    """Every runnable block of one Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    out = []
    for match in _FENCE.finditer(text):
        lang = RUNNABLE.get(match.group(1).lower())
        if lang is None:
            continue
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = _SKIP.match(before)
        rel = path.relative_to(ROOT).as_posix()
        out.append(Block(rel, line, lang, match.group(2), skip.group(1) if skip else None))
    return out


def all_blocks() -> list[Block]:
    return [b for page in pages() for b in blocks_of(page)]


def pytest_config() -> str:
    """The ``[tool.pytest.ini_options]`` block the lab page tells users to write."""
    text = (ROOT / "docs" / "lab.md").read_text(encoding="utf-8")
    match = re.search(r"^```toml\n(\[tool\.pytest\.ini_options\]\n.*?)^```", text, re.S | re.M)
    assert match, "docs/lab.md has no ```toml block with [tool.pytest.ini_options]"
    return match.group(1)

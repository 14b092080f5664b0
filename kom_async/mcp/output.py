"""Compact JSON for tool results: no managedFields, no last-applied blobs, bounded size."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_LIST_LIMIT", "MAX_RESULT_CHARS", "MAX_TEXT_CHARS", "compact", "dumps", "slim", "tail_text"]

MAX_LIST_LIMIT = 100
"""Most objects one list call returns; callers page with ``continue`` for more."""

MAX_TEXT_CHARS = 64_000
"""Most characters of log text one call returns (the newest lines are kept)."""

MAX_RESULT_CHARS = 256_000
"""Above this many characters a list page is fetched again with fewer objects."""

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def slim(obj: Any) -> Any:
    """A copy of a Kubernetes object without ``metadata.managedFields`` and last-applied noise."""
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
            rest = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
            if rest:
                meta["annotations"] = rest
            else:
                meta.pop("annotations")
        out["metadata"] = meta
    return out


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (a server URL may carry basic-auth credentials)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def dumps(value: Any) -> str:
    """Compact JSON text (no spaces; non-JSON values such as datetimes become strings)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def compact(value: Any) -> str:
    """``dumps`` of ``value`` with every Kubernetes object in it slimmed."""
    if isinstance(value, list):
        return dumps([slim(v) for v in value])
    return dumps(slim(value))


def tail_text(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """The last ``limit`` characters of ``text`` starting at a line, and whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text[-limit:]
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]
    return cut, True

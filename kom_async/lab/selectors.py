"""Kubernetes label and field selectors: parse the query-string forms and match objects."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from kom_async.errors import KomError

Matcher = Callable[[Mapping[str, Any]], bool]
_SET_REQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_REQ = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)\s*$")


class SelectorError(KomError):
    """A label or field selector could not be parsed (answered with 400 BadRequest)."""


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def _label_ok(labels: Mapping[str, Any], key: str, op: str, values: frozenset[str]) -> bool:
    if op == "exists":
        return key in labels
    if op == "!exists":
        return key not in labels
    if op in ("in", "="):
        return labels.get(key) in values
    return labels.get(key) not in values  # "notin", "!="


def parse_label_selector(text: str | None) -> Matcher:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` into a predicate over label dicts."""
    reqs: list[tuple[str, str, frozenset[str]]] = []
    for req in _split_top_level(text or ""):
        m = _EQ_REQ.match(req)
        if m:
            key, op, value = m.groups()
            reqs.append((key, "!=" if op == "!=" else "=", frozenset({value})))
            continue
        m = _SET_REQ.match(req)
        if not m:
            raise SelectorError(f"unable to parse requirement: {req.strip()!r}")
        neg, key, op, values = m.groups()
        if neg and op:
            raise SelectorError(f"unable to parse requirement: {req.strip()!r}")
        if op is None:
            reqs.append((key, "!exists" if neg else "exists", frozenset()))
        else:
            vals = frozenset(v.strip() for v in values.split(",") if v.strip())
            reqs.append((key, op, vals))

    def match(labels: Mapping[str, Any]) -> bool:
        return all(_label_ok(labels, k, op, vs) for k, op, vs in reqs)

    return match


def _field(obj: Mapping[str, Any], path: str) -> str | None:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    if cur is None:
        return None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def parse_field_selector(text: str | None) -> Matcher:
    """Parse ``metadata.name=x,status.phase!=Running`` into a predicate over whole objects.

    Any dotted path is accepted (the real server restricts them per resource); a missing
    field compares as the empty string, as on a real API server.
    """
    reqs: list[tuple[str, bool, str]] = []
    for req in _split_top_level(text or ""):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*([^,]*?)\s*$", req)
        if not m:
            raise SelectorError(f"invalid field selector: {req.strip()!r}")
        path, op, value = m.groups()
        reqs.append((path, op == "!=", value))

    def match(obj: Mapping[str, Any]) -> bool:
        return all(((_field(obj, p) or "") == v) != neg for p, neg, v in reqs)

    return match

"""YAML from someone else, at a bounded cost: aliases may not blow a small text up, and nothing
may nest or refer to itself deeper than a kubeconfig or a manifest ever does.

PyYAML builds aliases as shared objects, so loading a "billion laughs" document is cheap; the
cost comes later, when the tree is walked or serialised (the exec plugin's input, a request
body). :func:`bound_problem` measures the tree as it would be expanded, in time proportional to
its distinct objects, so such a document is refused before anything walks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

MAX_TEXT_BYTES = 16 * 1024 * 1024
"""Longest YAML text accepted at all."""
MAX_DEPTH = 100
"""Deepest nesting accepted (kubeconfigs and manifests stay under 20)."""
MAX_EXPANSION_NODES = 10_000
"""How many values aliases may add when the tree is expanded."""
MAX_EXPANSION_BYTES = 1 << 20
"""How many characters of text aliases may add when the tree is expanded."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YAMLBoundError(ValueError):
    """A YAML document is valid but would cost too much to use; the message says why."""


def load_one(text: str | bytes) -> Any:
    """Parse one YAML document with a safe loader (libyaml when present) and bound its size."""
    _check_length(text)
    doc = yaml.load(text, Loader=_Loader)
    _raise_if_unbounded(doc)
    return doc


def load_all(text: str | bytes) -> Iterator[Any]:
    """Parse every document of a multi-document YAML, each bounded like :func:`load_one`."""
    _check_length(text)
    for doc in yaml.load_all(text, Loader=_Loader):
        _raise_if_unbounded(doc)
        yield doc


def _check_length(text: str | bytes) -> None:
    if len(text) > MAX_TEXT_BYTES:
        raise YAMLBoundError(f"it is longer than {MAX_TEXT_BYTES} bytes")


def _raise_if_unbounded(doc: Any) -> None:
    problem = bound_problem(doc)
    if problem is not None:
        raise YAMLBoundError(problem)


# long: one iterative walk; its memo, path and counters are one piece of state
def bound_problem(
    root: Any,
    *,
    max_depth: int = MAX_DEPTH,
    max_added_nodes: int = MAX_EXPANSION_NODES,
    max_added_bytes: int = MAX_EXPANSION_BYTES,
) -> str | None:
    """Why ``root`` (parsed YAML/JSON: dicts, lists, scalars) is too costly to use, or None.

    Shared sub-trees (YAML aliases) are measured once and counted as often as they appear, so
    the walk is linear in distinct objects. Cycles (``a: &a [*a]``) are refused outright.
    """
    # Iterative post-order walk (a recursive one would hit the recursion limit first).
    # memo: id -> (expanded node count, expanded text size, depth) of a finished container.
    memo: dict[int, tuple[int, int, int]] = {}
    on_path: set[int] = set()
    texts_seen: set[int] = set()  # an aliased string is written once, however often it is used
    unique_nodes = unique_bytes = 0
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        obj, children_done = stack.pop()
        if not isinstance(obj, (dict, list)):
            continue
        key = id(obj)
        if not children_done:
            if key in memo:
                continue
            if key in on_path:
                return "it refers to itself (a recursive YAML alias)"
            if len(on_path) >= max_depth:
                return f"it nests deeper than {max_depth} levels"
            on_path.add(key)
            stack.append((obj, True))
            stack.extend((child, False) for child in _children(obj))
            continue
        on_path.discard(key)
        nodes, size, depth = 1, 0, 1
        for child in _children(obj):
            if isinstance(child, (dict, list)):
                c_nodes, c_size, c_depth = memo[id(child)]
                nodes, size, depth = nodes + c_nodes, size + c_size, max(depth, c_depth + 1)
            else:
                nodes, size = nodes + 1, size + _scalar_size(child)
                unique_nodes += 1
                if isinstance(child, (str, bytes)) and id(child) not in texts_seen:
                    texts_seen.add(id(child))
                    unique_bytes += len(child)
        unique_nodes += 1
        if depth > max_depth:
            return f"it nests deeper than {max_depth} levels"
        memo[key] = (nodes, size, depth)
    if not isinstance(root, (dict, list)):
        return None
    nodes, size, _ = memo[id(root)]
    if nodes - unique_nodes > max_added_nodes or size - unique_bytes > max_added_bytes:
        return (
            f"its aliases expand it to {nodes} values and {size} characters of text, from "
            f"{unique_nodes} values written out (at most {max_added_nodes} values and "
            f"{max_added_bytes} characters may come from aliases)"
        )
    return None


def _children(obj: dict[Any, Any] | list[Any]) -> Iterator[Any]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield v
    else:
        yield from obj


def _scalar_size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 1

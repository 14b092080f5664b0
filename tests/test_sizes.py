"""Every module of the package is at most 500 lines and every function at most 60, unless the
code says why a longer one reads better: a ``# long: <reason>`` comment on the line before the
``def`` (or its first decorator) or as the first line of its body, and for a module in its
docstring or on the line after it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "kom_async"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MARKER = re.compile(r"#\s*long:\s*\S")


def _marked(line: str) -> bool:
    return MARKER.match(line.strip()) is not None


def long_functions(source: str) -> list[tuple[int, str, int]]:
    """``(line, name, length)`` of every function longer than the limit and not marked."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        length = (node.end_lineno or node.lineno) - start + 1
        if length <= MAX_FUNCTION_LINES:
            continue
        before = lines[start - 2] if start >= 2 else ""
        has_doc = ast.get_docstring(node) is not None
        body = node.body[1:] if has_doc else node.body
        scan_from = (node.body[0].end_lineno or node.lineno) if has_doc else node.lineno
        scan_to = body[0].lineno - 1 if body else scan_from
        # the first comment after the docstring (or the signature), before any statement
        comments = [line for line in lines[scan_from:scan_to] if line.strip().startswith("#")]
        after = comments[0] if comments else ""
        if not (_marked(before) or _marked(after)):
            found.append((node.lineno, node.name, length))
    return found


def long_module(source: str) -> int | None:
    """The module's line count if it is over the limit and not marked, else None."""
    count = len(source.splitlines())
    if count <= MAX_MODULE_LINES:
        return None
    tree = ast.parse(source)
    doc = ast.get_docstring(tree, clean=False) or ""
    end = tree.body[0].end_lineno if doc and tree.body else 0
    after = source.splitlines()[end] if end and end < count else ""
    if any(_marked(line) for line in doc.splitlines()) or _marked(after):
        return None
    return count


def test_every_module_is_at_most_500_lines() -> None:
    too_long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in sorted(PACKAGE.rglob("*.py"))
        if (n := long_module(p.read_text())) is not None
    }
    assert too_long == {}, "split these by what their parts hold, or say why in a '# long:' line"


def test_every_function_is_at_most_60_lines() -> None:
    too_long = [
        f"{p.relative_to(PACKAGE.parent)}:{line} {name} ({length} lines)"
        for p in sorted(PACKAGE.rglob("*.py"))
        for line, name, length in long_functions(p.read_text())
    ]
    assert too_long == [], "split these, or say why one reads better in a '# long:' line"


def test_the_size_check_fails_on_a_long_function_and_accepts_a_marked_one() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    plain = f"def f() -> None:\n{body}"
    assert [name for _, name, _ in long_functions(plain)] == ["f"]
    assert long_functions(f"# long: a table of values\ndef f() -> None:\n{body}") == []
    assert long_functions(f'def f() -> None:\n    """Doc."""\n    # long: a table\n{body}') == []
    assert long_functions(f"# long:\ndef f() -> None:\n{body}") != []  # a marker needs its reason
    decorated = f"# long: a table\n@staticmethod\ndef f() -> None:\n{body}"
    assert long_functions(decorated) == []


def test_the_size_check_fails_on_a_long_module_and_accepts_a_marked_one() -> None:
    lines = "".join(f"x{i} = {i}\n" for i in range(MAX_MODULE_LINES))
    assert long_module(f'"""Doc."""\n{lines}') == MAX_MODULE_LINES + 1
    assert long_module(f'"""Doc."""\n# long: generated tables\n{lines}') is None
    assert long_module(f'"""Doc.\n\n# long: generated tables\n"""\n{lines}') is None

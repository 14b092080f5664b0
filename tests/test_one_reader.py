"""One bounded YAML loader and one bounded file reader: an AST walk over every module of
kom_async fails when YAML is parsed, or a file opened for reading, anywhere else.

``yaml.safe_load`` costs nothing to call and everything to use: its aliases come back as shared
objects that a later ``json.dumps`` expands exponentially (the MCP patch tool took 3 GiB from a
425-byte text). A plain ``open()`` of a path a kubeconfig names waits forever on a FIFO.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kom_async"
YAML_LOADER = PACKAGE / "config" / "yamlload.py"
FILE_READER = PACKAGE / "config" / "readfile.py"
# names in PyYAML that parse text: load*, safe_load*, full_load*, unsafe_load*, the loaders,
# compose*/parse/scan (events and nodes from the same parser)
_YAML_PARSING = ("load", "Loader", "compose", "parse", "scan")
_WRITE_MODES = set("wax")
_WRITE_FLAGS = {"O_WRONLY", "O_RDWR"}


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _yaml_aliases(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name for a in node.names if a.name == "yaml"}
    return names


def _parses_yaml(name: str) -> bool:
    return any(word in name for word in _YAML_PARSING)


def yaml_loads(tree: ast.Module) -> list[tuple[int, str]]:
    """Every place ``tree`` reaches a PyYAML parser: ``yaml.safe_load``, ``from yaml import
    load``, ``getattr(yaml, "CSafeLoader")``."""
    aliases = _yaml_aliases(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in aliases and _parses_yaml(node.attr):
                found.append((node.lineno, f"yaml.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "yaml":
            found += [(node.lineno, f"from yaml import {a.name}") for a in node.names if _parses_yaml(a.name)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            args = node.args
            if (
                len(args) >= 2
                and isinstance(args[0], ast.Name)
                and args[0].id in aliases
                and isinstance(args[1], ast.Constant)
                and _parses_yaml(str(args[1].value))
            ):
                found.append((node.lineno, f"getattr(yaml, {args[1].value!r})"))
    return found


def _mode(call: ast.Call, position: int) -> str | None:
    """The literal mode of an ``open``-like call, '' when absent (read), None when not literal."""
    if len(call.args) > position:
        arg: ast.expr | None = call.args[position]
    else:
        arg = next((k.value for k in call.keywords if k.arg == "mode"), None)
    if arg is None:
        return ""
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def _flag_names(expr: ast.expr) -> set[str]:
    return {n.attr for n in ast.walk(expr) if isinstance(n, ast.Attribute)} | {
        n.id for n in ast.walk(expr) if isinstance(n, ast.Name)
    }


def _path_open(call: ast.Call) -> bool:
    """``p.open()`` / ``p.open("rb")`` (a pathlib read), as opposed to ``rest.open("GET", url)``."""
    mode = _mode(call, 0)
    return (mode is not None and set(mode) <= set("rbt")) or (mode is None and not call.args)


def file_reads(tree: ast.Module) -> list[tuple[int, str]]:
    """Every call in ``tree`` that opens a file for reading: ``open()``/``io.open()``/
    ``os.fdopen()``/``Path.open()`` without a write mode, ``os.open()`` without a write flag,
    ``.read_text`` and ``.read_bytes`` (called or passed on)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("read_text", "read_bytes"):
            found.append((node.lineno, f".{node.attr}"))  # called, or handed to to_thread()
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        builtin_open = isinstance(func, ast.Name) and name == "open"
        if builtin_open or (name == "open" and owner == "io") or (name == "fdopen" and owner == "os"):
            mode = _mode(node, 1)
            if mode is None or not _WRITE_MODES & set(mode):
                found.append((node.lineno, f"{owner + '.' if owner else ''}{name}() for reading"))
        elif name == "open" and isinstance(func, ast.Attribute) and owner != "os" and _path_open(node):
            found.append((node.lineno, ".open() for reading"))
        elif name == "open" and owner == "os":
            if len(node.args) < 2 or not _WRITE_FLAGS & _flag_names(node.args[1]):
                found.append((node.lineno, "os.open() for reading"))
    return found


def test_yaml_is_parsed_only_by_the_bounded_loader() -> None:
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path, tree in _modules()
        if path != YAML_LOADER
        for line, what in yaml_loads(tree)
    ]
    assert outside == [], "parse YAML with kom_async.config.yamlload.load_one/load_all:\n" + "\n".join(
        outside
    )


def test_files_are_read_only_by_the_bounded_reader() -> None:
    outside = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path, tree in _modules()
        if path != FILE_READER
        for line, what in file_reads(tree)
    ]
    assert outside == [], "read files with kom_async.config.readfile.read_file:\n" + "\n".join(outside)


def test_the_rules_see_what_they_forbid() -> None:
    """The walkers find each form (else the two tests above would pass by seeing nothing)."""
    yaml_forms = (
        "import yaml\nyaml.safe_load(t)\nyaml.load(t, Loader=yaml.SafeLoader)\nyaml.full_load(t)\n"
        "yaml.unsafe_load(t)\nyaml.safe_load_all(t)\nyaml.compose(t)\ngetattr(yaml, 'CSafeLoader')\n"
        "from yaml import safe_load\nimport yaml as y\ny.load_all(t)\n"
    )
    assert len(yaml_loads(ast.parse(yaml_forms))) == 10
    assert yaml_loads(ast.parse("import yaml\nyaml.safe_dump(d)\nyaml.YAMLError\n")) == []
    read_forms = (
        "open(p)\nopen(p, 'rb')\nio.open(p, mode='r')\nopen(p, m)\nos.fdopen(fd)\nos.open(p, os.O_RDONLY)\n"
        "Path(p).read_text()\np.read_bytes()\nasyncio.to_thread(p.read_bytes)\np.open('rb')\nPath(p).open()\n"
    )
    assert len(file_reads(ast.parse(read_forms))) == 11
    writes = (
        "open(p, 'w')\nos.fdopen(fd, 'wb')\nos.open(p, os.O_WRONLY | os.O_CREAT)\nself._rest.open('GET', u)\n"
        "p.open('w')\nself._feed.open(info, params)\n"
    )
    assert file_reads(ast.parse(writes)) == []

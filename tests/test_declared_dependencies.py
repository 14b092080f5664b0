"""Every third-party module kom_async imports is a declared dependency of the part that imports
it: the core's of the core, each extra's of its own modules (an AST walk over every import,
function-level and TYPE_CHECKING ones included). A module reachable only through another
package's dependencies (yarl through aiohttp) breaks the day that package drops it."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kom_async"

# which extra a part of the package needs; everything else is the core
PARTS: dict[str, str] = {
    "kom_async/lab/": "lab",
    "kom_async/mcp/": "mcp",
}
# imports made only after a try/except ImportError (or importlib by name): optional features,
# each declared by the extra that names them
OPTIONAL: dict[str, str] = {
    "rich": "cli",  # cli/clusters.py: the progress bar and boxed table when rich is present
    "prometheus_client": "prometheus",  # metrics.py exporters
    "opentelemetry": "otel",
}
# provided by whoever loads the module: the pytest plugin runs inside pytest, and its async
# fixtures are defined only when pytest-asyncio is present (they say so otherwise)
HOSTED = {"pytest", "pytest_asyncio"}


def declared() -> dict[str | None, set[str]]:
    """Canonical distribution names: the core's (key None) and each extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str | None, set[str]] = {
        None: {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    }
    for extra, reqs in project["optional-dependencies"].items():
        found[extra] = {canonicalize_name(Requirement(r).name) for r in reqs}
    return found


def third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party module -> the files (relative paths) that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("kom_async", "__future__"):
                    found.setdefault(top, set()).add(rel)
    return found


def part_of(rel: str) -> str | None:
    return next((extra for prefix, extra in PARTS.items() if rel.startswith(prefix)), None)


def test_every_imported_third_party_module_is_declared_by_the_part_that_imports_it() -> None:
    deps = declared()
    dists = packages_distributions()
    problems: list[str] = []
    for module, files in sorted(third_party_imports().items()):
        if module in HOSTED:
            continue
        providers = {canonicalize_name(d) for d in dists.get(module, [])}
        assert providers, f"{module} is not installed here: install the test extra"
        if module in OPTIONAL:
            if not providers & deps[OPTIONAL[module]]:
                problems.append(f"{module} (optional) is not in the {OPTIONAL[module]!r} extra")
            continue
        for rel in sorted(files):
            extra = part_of(rel)
            allowed = deps[None] | (deps[extra] if extra else set())
            if not providers & allowed:
                where = "the core's dependencies" if extra is None else f"the core's or the {extra!r} extra"
                problems.append(f"{rel} imports {module} ({', '.join(sorted(providers))}), not in {where}")
    assert problems == []


def test_the_undeclared_imports_found_once_are_declared_now() -> None:
    """yarl (core), jsonpointer and werkzeug (lab), pydantic and uvicorn (mcp)."""
    deps = declared()
    assert "yarl" in deps[None]
    assert {"jsonpointer", "werkzeug"} <= deps["lab"]
    assert {"pydantic", "uvicorn"} <= deps["mcp"]


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_an_optional_import_is_really_guarded(module: str) -> None:
    """A module listed as optional is imported only under try/except ImportError or by name."""
    for rel in third_party_imports().get(module, ()):
        tree = ast.parse((ROOT / rel).read_text())
        guarded: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers
            ):
                guarded |= {n.lineno for stmt in node.body for n in ast.walk(stmt) if hasattr(n, "lineno")}
            if (
                isinstance(node, ast.If)
                and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"
            ):
                guarded |= {n.lineno for stmt in node.body for n in ast.walk(stmt) if hasattr(n, "lineno")}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n.split(".")[0] == module for n in names) and node.lineno not in guarded:
                    # a function-level import in a module only reached after an importlib check
                    assert _reached_by_name(tree, node), f"{rel}:{node.lineno} imports {module} unguarded"


def _reached_by_name(tree: ast.Module, node: ast.AST) -> bool:
    """True when ``node`` sits inside a function (metrics exporters check the module by name
    with importlib before calling the function that imports it)."""
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(n is node for n in ast.walk(fn)):
            return True
    return False

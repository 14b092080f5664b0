"""The package's imports flow one way (ARCHITECTURE.md): each layer imports only the layers
below it, the fluent API never imports auth, nothing imports an old re-export path, and the
import graph has no cycle, counting type-only and function-level imports too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kom_async"

# top to bottom; a module may import its own layer and any layer below it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("apps", ("kom_async.cli", "kom_async.mcp", "kom_async.lab", "kom_async.metrics")),
    ("face", ("kom_async", "kom_async.eks")),
    ("registry", ("kom_async.clusters", "kom_async._options", "kom_async._fleet")),
    ("connect", ("kom_async._connect",)),
    ("kubectl", ("kom_async.kubectl",)),
    ("transport", ("kom_async.transport",)),
    ("auth", ("kom_async.auth",)),
    ("config", ("kom_async.config",)),
    ("errors", ("kom_async.errors", "kom_async.scrub", "kom_async.printable", "kom_async.backoff")),
]

# (importer, imported) pairs that layering alone would allow but the design forbids
FORBIDDEN: list[tuple[str, str, str]] = [
    ("kom_async.kubectl", "kom_async.auth", "the fluent API knows requests, not tokens"),
    ("kom_async.cli", "kom_async.mcp", "apps are independent (the dispatcher imports by name)"),
    ("kom_async.cli", "kom_async.lab", "apps are independent (the dispatcher imports by name)"),
    ("kom_async.mcp", "kom_async.lab", "apps are independent"),
    ("kom_async.mcp", "kom_async.cli", "apps are independent"),
    ("kom_async.lab", "kom_async.mcp", "apps are independent"),
    ("kom_async.lab", "kom_async.cli", "apps are independent"),
    ("kom_async.metrics", "kom_async.mcp", "apps are independent"),
]

# old import paths, kept as re-exports for users; code inside the package never uses them
LEGACY = frozenset(
    {
        "kom_async.apply",
        "kom_async.auth.apiclient",
        "kom_async.auth.aws",
        "kom_async.auth.detect",
        "kom_async.auth.eks_native",
        "kom_async.auth.retry",
        "kom_async.cluster",
        "kom_async.clusters_cli",
        "kom_async.discovery",
        "kom_async.eks_cli",
        "kom_async.kubeconfig",
        "kom_async.models",
        "kom_async.policy",
        "kom_async.rest",
        "kom_async.selectors",
        "kom_async.tls",
    }
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """Every kom_async module ``name`` imports, anywhere in the file (TYPE_CHECKING too)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "kom_async":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "kom_async":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in known else base), node.lineno


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    return None if best is None else best[1]


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for target, _ in imports_of(name, path, known):
            # importing a package's child implies its parent __init__; like import-linter,
            # count only the module named, and never a module's edge to its own ancestors
            if target != name and not name.startswith(target + "."):
                edges[name].add(target)
    return edges


def violations(edges: dict[str, set[str]]) -> list[str]:
    found: list[str] = []
    for importer, targets in sorted(edges.items()):
        if importer in LEGACY:
            continue
        src = layer_of(importer)
        for target in sorted(targets):
            if target in LEGACY:
                found.append(f"{importer} imports the old path {target}; import its new home")
                continue
            dst = layer_of(target)
            if src is None or dst is None:
                found.append(f"{importer} -> {target}: module not placed in a layer (ARCHITECTURE.md)")
            elif dst < src:
                found.append(
                    f"{importer} ({LAYERS[src][0]}) imports {target} ({LAYERS[dst][0]}), a layer above it"
                )
            for a, b, why in FORBIDDEN:
                if under(importer, a) and under(target, b):
                    found.append(f"{importer} imports {target}: {why}")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return result


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in all_modules() if m not in LEGACY and layer_of(m) is None]
    assert unplaced == []


def test_imports_only_go_down_the_layers() -> None:
    assert violations(graph()) == []


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(graph()) == []


def test_legacy_paths_are_only_re_exports() -> None:
    """An old path holds no code of its own, so there is one home per concern."""
    modules = all_modules()
    for name in LEGACY:
        tree = ast.parse(modules[name].read_text())
        kinds = {type(node).__name__ for node in tree.body}
        assert kinds <= {"Expr", "ImportFrom", "Import", "If", "Assign"}, (name, kinds)


@pytest.mark.parametrize(
    ("importer", "source", "expect"),
    [
        ("kom_async.config.tls", "from kom_async.auth.token import Token\n", "a layer above it"),
        ("kom_async.kubectl.query", "from kom_async.auth.provider import TokenProvider\n", "not tokens"),
        ("kom_async.transport.rest", "from kom_async.rest import Target\n", "old path"),
        ("kom_async.auth.token", "if TYPE_CHECKING:\n    from kom_async.clusters import Clusters\n", "above"),
    ],
)
def test_the_checker_catches_a_forbidden_import(
    tmp_path: Path, importer: str, source: str, expect: str
) -> None:
    """Plant one bad import in a copy of the graph: the checker must name it."""
    edges = graph()
    known = set(edges)
    fake = tmp_path / "m.py"
    fake.write_text(source)
    planted = {t for t, _ in imports_of(importer, fake, known)}
    edges[importer] = edges[importer] | planted
    assert any(expect in v for v in violations(edges)), violations(edges)


def test_the_checker_catches_a_cycle() -> None:
    edges = graph()
    edges["kom_async.kubectl.watch"] = edges["kom_async.kubectl.watch"] | {"kom_async.kubectl.query"}
    assert any({"kom_async.kubectl.query", "kom_async.kubectl.watch"} <= set(c) for c in cycles(edges))


# the modules users import from; everything else is internal and says so by having no
# __all__ (or a leading underscore): kom_async/__init__.py is the one list of public names
PUBLIC = frozenset(
    {
        "kom_async",
        "kom_async.cli",
        "kom_async.clusters",
        "kom_async.eks",
        "kom_async.errors",
        "kom_async.kubectl",
        "kom_async.lab",
        "kom_async.mcp",
        "kom_async.metrics",
    }
)


def declares_all(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        for node in tree.body
    )


def test_only_public_modules_declare_all() -> None:
    internal_with_all = [
        name
        for name, path in all_modules().items()
        if name not in PUBLIC and name not in LEGACY and declares_all(path)
    ]
    assert internal_with_all == []


def test_every_public_name_is_importable_from_the_top() -> None:
    import kom_async
    import kom_async.errors

    missing = [n for n in kom_async.__all__ if getattr(kom_async, n, None) is None]
    assert missing == []
    assert set(kom_async.errors.__all__) <= set(kom_async.__all__)
    for name in ("ExecPolicy", "RetryPolicy", "RefreshPolicy", "NotFound", "EKSAuthError", "Clusters"):
        assert name in kom_async.__all__

"""The package's imports flow one way (ARCHITECTURE.md): each layer imports only the layers
below it, the fluent API never imports auth, and the import graph has no cycle, counting
type-only and function-level imports too."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kom_async"

# top to bottom; a module may import its own layer and any layer below it
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("apps", ("kom_async.cli", "kom_async.mcp", "kom_async.lab", "kom_async.metrics")),
    ("face", ("kom_async", "kom_async.eks")),
    ("registry", ("kom_async.clusters", "kom_async._options", "kom_async._fleet", "kom_async._flights")),
    ("connect", ("kom_async._connect", "kom_async.connection")),
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
        src = layer_of(importer)
        for target in sorted(targets):
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
    unplaced = [m for m in all_modules() if layer_of(m) is None]
    assert unplaced == []


def test_imports_only_go_down_the_layers() -> None:
    assert violations(graph()) == []


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    ("importer", "source", "expect"),
    [
        ("kom_async.config.tls", "from kom_async.auth.token import Token\n", "a layer above it"),
        ("kom_async.kubectl.query", "from kom_async.auth.provider import TokenProvider\n", "not tokens"),
        (
            "kom_async.auth.provider",
            "from kom_async.transport.retry import RetryPolicy\n",
            "a layer above it",
        ),
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


# the modules users import from (ARCHITECTURE.md, "Public surface"); everything else is
# internal and says so by having no __all__ (or a leading underscore)
PUBLIC = frozenset(
    {
        "kom_async",
        "kom_async.cli",
        "kom_async.clusters",
        "kom_async.connection",
        "kom_async.eks",
        "kom_async.errors",
        "kom_async.kubectl",
        "kom_async.lab",
        "kom_async.mcp",
        "kom_async.metrics",
    }
)

# kom-async classes a public method returns that are deliberately not public, and why
NOT_PUBLIC_RETURNS = {
    "kom_async.config.kubeconfig.KubeconfigSelection": (
        "TrustPolicy.check_selection/vouch serve the registry's admission; users pass kubeconfig text"
    ),
}


def declares_all(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    targets = [t for n in tree.body if isinstance(n, ast.Assign) for t in n.targets]
    targets += [n.target for n in tree.body if isinstance(n, ast.AnnAssign)]
    return any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)


def documented_public_modules() -> dict[str, str]:
    """ARCHITECTURE.md's "Public surface" table: module -> "the one list" / "at the top" / "its own"."""
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    section = text.split("## Public surface", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(kom_async[\w.]*)` \| (the one list|at the top|its own) \|", section, re.M)
    return dict(rows)


def public_all(module: str) -> list[str]:
    return list(importlib.import_module(module).__all__)


def test_only_public_modules_declare_all() -> None:
    declaring = {name for name, path in all_modules().items() if declares_all(path)}
    assert declaring == PUBLIC


def test_architecture_md_lists_the_same_public_modules() -> None:
    documented = documented_public_modules()
    assert set(documented) == PUBLIC
    assert documented["kom_async"] == "the one list"


def test_every_name_of_a_module_at_the_top_is_exported_from_kom_async() -> None:
    """One list of public names: what kubectl, clusters and errors export, kom_async exports too
    (the same objects), and kom_async takes nothing from a namespace of its own (eks, lab, ...)."""
    import kom_async

    top = set(kom_async.__all__)
    documented = documented_public_modules()
    for module, kind in documented.items():
        names = public_all(module)
        if kind == "at the top":
            assert set(names) - top == set(), f"{module} exports names kom_async does not"
            home = importlib.import_module(module)
            assert [n for n in names if getattr(kom_async, n) is not getattr(home, n)] == []
        elif kind == "its own":
            home = importlib.import_module(module)
            shared = [n for n in names if n in top and getattr(kom_async, n) is getattr(home, n)]
            assert shared == [], f"{module} is a namespace of its own, yet kom_async re-exports {shared}"
    missing = [n for n in kom_async.__all__ if getattr(kom_async, n, None) is None]
    assert missing == []


def test_the_same_check_fails_on_a_name_missing_at_the_top(monkeypatch: pytest.MonkeyPatch) -> None:
    import kom_async
    import kom_async.kubectl

    monkeypatch.setattr(kom_async, "__all__", [n for n in kom_async.__all__ if n != "PodQuery"])
    with pytest.raises(AssertionError, match="exports names kom_async does not"):
        test_every_name_of_a_module_at_the_top_is_exported_from_kom_async()


def _kom_classes(hint: object) -> Iterator[type]:
    if isinstance(hint, type) and hint.__module__.startswith("kom_async"):
        yield hint
    origin = typing.get_origin(hint)
    if isinstance(origin, type) and origin.__module__.startswith("kom_async"):
        yield origin
    for arg in typing.get_args(hint):
        yield from _kom_classes(arg)


def returned_classes() -> dict[str, set[str]]:
    """Every kom-async class a public method or property of a public class returns -> where."""
    exported = {id(getattr(importlib.import_module(m), n)) for m in PUBLIC for n in public_all(m)}
    names: dict[str, object] = {}
    for module in PUBLIC:
        home = importlib.import_module(module)
        names.update({n: getattr(home, n) for n in public_all(module)})
    found: dict[str, set[str]] = {}
    for owner, cls in sorted(names.items()):
        if not isinstance(cls, type) or not cls.__module__.startswith("kom_async"):
            continue
        for attr, member in vars(cls).items():
            function = member.fget if isinstance(member, property) else member
            if attr.startswith("_") or not callable(function):
                continue
            # typing's names first: a module may import them under TYPE_CHECKING only
            scope = {
                **{n: getattr(typing, n) for n in typing.__all__},
                **vars(sys.modules[function.__module__]),
                **names,
            }
            returned = typing.get_type_hints(function, globalns=scope).get("return")
            for c in _kom_classes(returned):
                if id(c) not in exported:
                    found.setdefault(f"{c.__module__}.{c.__qualname__}", set()).add(f"{owner}.{attr}")
    return found


def test_every_class_a_public_method_returns_is_public() -> None:
    """A user can name what they get back (``Cluster.auth_stats`` -> ``AuthStats``)."""
    found = returned_classes()
    unexplained = {c: sorted(where) for c, where in found.items() if c not in NOT_PUBLIC_RETURNS}
    assert unexplained == {}
    assert set(NOT_PUBLIC_RETURNS) <= set(found), "an exception that no longer applies: drop it"


def test_every_public_name_is_importable_from_the_top() -> None:
    import kom_async
    import kom_async.errors

    assert set(kom_async.errors.__all__) <= set(kom_async.__all__)
    for name in (
        "ExecPolicy",
        "RetryPolicy",
        "RefreshPolicy",
        "NotFound",
        "EKSAuthError",
        "Clusters",
        "AuthStats",
    ):
        assert name in kom_async.__all__

"""`nox -s mutants` stays runnable: every mutant's anchor is still in its file exactly once, and
every test it names still exists, so a refactor that moves the code fails here, in CI, and not
only when someone next runs the (slow, out-of-CI) mutation session."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_mutants() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kom_mutants", ROOT / "tools" / "mutants.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


MUTANTS = load_mutants().MUTANTS


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name.split(":")[0] for m in MUTANTS])
def test_each_mutant_still_finds_its_code_and_its_tests(mutant: object) -> None:
    path, anchor = getattr(mutant, "path"), getattr(mutant, "anchor")  # noqa: B009
    text = (ROOT / path).read_text(encoding="utf-8")
    assert text.count(anchor) == 1, f"the anchor of {mutant!r} is in {path} {text.count(anchor)} times"
    for node in getattr(mutant, "tests"):  # noqa: B009
        file, _, name = node.partition("::")
        function = name.split("[", 1)[0]
        source = (ROOT / file).read_text(encoding="utf-8")
        assert re.search(rf"^(async )?def {re.escape(function)}\(", source, re.M), f"{node} is gone"


def test_every_mutant_ci_runs_is_one_of_the_mutants() -> None:
    module = sys.modules["kom_mutants"]
    names = {module.short_name(m) for m in MUTANTS}
    assert module.CI_MUTANTS <= names, sorted(module.CI_MUTANTS - names)

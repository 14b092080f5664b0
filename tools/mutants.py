"""Prove the suite's teeth: break the core on purpose, one named mutant at a time, and check
that the tests named for that feature fail.

Each mutant replaces one exact snippet (its *anchor*) in one file of a temporary copy of the
repository; the working tree is never touched. An anchor that is missing or not unique stops
the run: the code moved, and the mutant must follow it. Before any mutant, the named tests
run once on an unmutated copy and must pass, so a "kill" always means the mutant did it.

Run: ``nox -s mutants`` (or ``python tools/mutants.py [-k NAME]`` in an environment with the
``test`` extra). Exit status 0 only if every mutant is killed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug: in ``path``, ``anchor`` (exact, unique) becomes ``replacement``."""

    name: str
    path: str
    anchor: str
    replacement: str
    tests: tuple[str, ...]  # pytest node ids, at least one of which must fail


MUTANTS = [
    Mutant(
        "single flight off: a caller queued on the refresh lock fetches again instead of taking "
        "the token just fetched",
        "kom_async/auth/provider.py",
        "            current = self._usable(stale, force)"
        "  # check again: the last holder's fetch may have done it\n",
        "            current = None\n",
        (
            "tests/registry/test_401_storm.py::test_a_401_storm_with_a_slow_exec_plugin_runs_the_plugin_once",
            "tests/registry/test_401_storm.py::test_a_401_storm_with_slow_eks_native_credentials_signs_once",
            "tests/core/test_provider.py::test_ten_thousand_concurrent_callers_on_a_cold_provider_cause_one_fetch",
        ),
    ),
    Mutant(
        "advisory refresh never starts: callers in the advisory window start no background fetch",
        "kom_async/auth/provider.py",
        "            self._start_fetch(background=True)\n",
        "            pass\n",
        (
            "tests/core/test_provider.py::test_in_the_advisory_window_one_background_fetch_runs_and_callers_keep_the_old_token",
            "tests/core/test_provider.py::test_with_the_system_clock_a_loop_timer_ends_the_fast_path_at_the_advisory_deadline",
        ),
    ),
    Mutant(
        "refresh loop never refreshes: the background task returns at once",
        "kom_async/auth/refresh.py",
        "            if delay is None:\n                return",
        "            if True:\n                return",
        (
            "tests/core/test_refresh.py::test_the_token_is_renewed_before_expiry_with_one_wakeup_per_lifetime",
            "tests/reliability/test_token_source_faults.py::test_a_slow_plugin_during_refresh_makes_no_request_wait",
        ),
    ),
    Mutant(
        "401 retry off: a 401 is raised instead of refreshing the token and retrying",
        "kom_async/transport/apiclient.py",
        "            if exc.status != 401:\n                raise\n        else:\n",
        "            raise\n        else:\n",
        (
            "tests/registry/test_unauthorized.py::test_a_thousand_concurrent_401s_cause_one_refresh_and_all_requests_succeed",
            "tests/registry/test_401_storm.py::test_a_401_storm_with_a_slow_exec_plugin_runs_the_plugin_once",
        ),
    ),
    Mutant(
        "refresh task not cancelled on unregister: it is dropped, still running",
        "kom_async/_connect.py",
        "            if task is not None:\n                task.cancel()\n",
        "            if False:\n                task.cancel()\n",
        (
            "tests/registry/test_registry.py::test_unregister_cancels_the_refresh_task_and_closes_the_client",
            "tests/reliability/test_lifecycle.py::test_closing_a_cluster_with_a_refresh_a_request_and_a_watch_in_flight_leaves_nothing[unregister]",
        ),
    ),
    Mutant(
        "token redaction off: repr() and str() of a Token show its value",
        "kom_async/auth/token.py",
        'return f"Token(value=<redacted {len(self.value)} chars>, expires_at={exp})"',
        'return f"Token(value={self.value}, expires_at={exp})"',
        (
            "tests/core/test_provider.py::test_token_and_provider_reprs_never_show_the_value",
            "tests/reliability/test_secrets.py::test_errors_about_tokens_never_quote_them",
            "tests/reliability/test_secrets.py::test_no_public_object_shows_a_token_a_key_or_a_password",
        ),
    ),
    Mutant(
        "object-name validation off: '..', '.', 'a/b' pass as object names",
        "kom_async/kubectl/names.py",
        "    problem = _path_segment_problem(value)\n",
        "    problem = None\n",
        (
            "tests/kubectl/test_names.py::test_a_bad_object_name_is_refused_before_any_request",
            "tests/kubectl/test_names.py::test_the_rules_are_the_kubernetes_api_rules",
        ),
    ),
    Mutant(
        "namespace validation off: any string passes as a namespace",
        "kom_async/kubectl/names.py",
        "    if not _DNS_LABEL.fullmatch(value):\n        raise InvalidName(",
        "    if False:\n        raise InvalidName(",
        (
            "tests/kubectl/test_names.py::test_a_bad_namespace_is_refused_before_any_request",
            "tests/kubectl/test_names.py::test_a_bad_namespace_inside_an_object_is_refused_before_any_request",
        ),
    ),
    Mutant(
        "scrubber key shapes off: an AWS access key id in foreign text survives",
        "kom_async/scrub.py",
        '            r"\\b(?:AKIA|ASIA|AROA|AIDA|ANPA|ANVA|AGPA)[A-Z0-9]{12,}\\b",',
        '            r"(?!x)x",',
        (
            "tests/test_scrub_corpus.py::test_every_secret_shape_is_redacted_on_its_own_in_a_sentence",
            "tests/core/test_exec_leaves_nothing.py::test_secrets_a_plugin_prints_on_stderr_never_reach_the_error",
        ),
    ),
    Mutant(
        "scrubber random runs off: a 40-character AWS secret key in foreign text survives",
        "kom_async/scrub.py",
        "        len(part) >= 16\n",
        "        len(part) >= 16 and False\n",
        (
            "tests/test_scrub_corpus.py::test_every_secret_shape_is_redacted_on_its_own_in_a_sentence",
            "tests/test_scrub_corpus.py::test_a_real_error_message_keeps_its_words_and_loses_its_secrets",
        ),
    ),
    Mutant(
        "scrubber eats words: a bare word after 'credentials:' is redacted as if it were a value",
        "kom_async/scrub.py",
        '    data = m["quote"] != "" or _VALUE_SHAPED.search(bare) is not None\n',
        "    data = True\n",
        ("tests/test_scrub_corpus.py::test_a_real_error_message_keeps_its_words_and_loses_its_secrets",),
    ),
    Mutant(
        "pytest plugin eager: registering kom_async_lab imports the lab (moto, json_merge_patch...)",
        "kom_async/lab/__init__.py",
        "if TYPE_CHECKING:\n    from kom_async.lab.clock import FakeClock\n",
        "if True:\n    from kom_async.lab.clock import FakeClock\n",
        ("tests/test_lab_plugin_lazy.py::test_registering_the_pytest_plugin_imports_no_extra",),
    ),
]


class AnchorError(SystemExit):
    """An anchor is missing or ambiguous: the code moved and the mutant must be updated."""


def copy_repo(dest: Path) -> None:
    """Copy the tracked and untracked-but-not-ignored files (the tree as it is now) to ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def mutated(mutant: Mutant, tree: Path) -> str:
    """The text of ``mutant.path`` in ``tree`` with the mutant applied (nothing is written)."""
    path = tree / mutant.path
    if not path.is_file():
        raise AnchorError(f"mutant {mutant.name!r}: {mutant.path} does not exist (moved?)")
    text = path.read_text()
    found = text.count(mutant.anchor)
    if found != 1:
        what = "not found" if found == 0 else f"found {found} times"
        raise AnchorError(f"mutant {mutant.name!r}: anchor {mutant.anchor!r} {what} in {mutant.path}")
    return text.replace(mutant.anchor, mutant.replacement)


def run_tests(tree: Path, tests: tuple[str, ...] | list[str]) -> tuple[int, list[str], str]:
    """pytest in ``tree`` with the copy's package first on the path; (exit code, failed ids, tail)."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    check = subprocess.run(
        [sys.executable, "-c", "import kom_async; print(kom_async.__file__)"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if not check.stdout.strip().startswith(str(tree)):
        raise SystemExit(f"the copy's kom_async is not the one imported: {check.stdout.strip()}")
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *tests]
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=1800, check=False)
    failed = list(dict.fromkeys(re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, re.M)))
    tail = "\n".join(proc.stdout.splitlines()[-15:])
    return proc.returncode, failed, tail


def _grouped(node_ids: list[str]) -> dict[str, int]:
    """Failed node ids with their parameters folded: test -> how many of its cases failed."""
    counts: dict[str, int] = {}
    for node in node_ids:
        base = node.split("[", 1)[0]
        counts[base] = counts.get(base, 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="select", default="", help="only mutants whose name contains this")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if args.select in m.name]
    if not mutants:
        print(f"no mutant matches {args.select!r}")
        return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kom-mutants-") as tmp:
        for mutant in mutants:  # every anchor first: a stale one stops the run before any test
            mutated(mutant, ROOT)
        baseline = Path(tmp) / "baseline"
        copy_repo(baseline)
        every_test = list(dict.fromkeys(t for m in mutants for t in m.tests))
        code, failed, tail = run_tests(baseline, every_test)
        if code != 0:
            print(f"the named tests do not pass on the unmutated tree (exit {code}):\n{tail}")
            return 1
        print(f"baseline: the {len(every_test)} named tests pass on an unmutated copy")
        survivors = 0
        for i, mutant in enumerate(mutants):
            tree = Path(tmp) / f"mutant{i}"
            copy_repo(tree)
            (tree / mutant.path).write_text(mutated(mutant, tree))
            code, failed, tail = run_tests(tree, mutant.tests)
            if code == 1 and failed:
                print(f"KILLED   {mutant.name}\n         ({mutant.path}) by:")
                for test, cases in _grouped(failed).items():
                    print(f"           {test}" + (f" ({cases} cases)" if cases > 1 else ""))
            else:
                survivors += 1
                why = "all its tests passed" if code == 0 else f"pytest exit {code}"
                print(f"SURVIVED {mutant.name}\n         ({mutant.path}): {why}\n{tail}")
            shutil.rmtree(tree)
    total = time.perf_counter() - started
    print(f"{len(mutants) - survivors} of {len(mutants)} mutants killed in {total:.0f} s")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())

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
from concurrent.futures import ThreadPoolExecutor
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
        "shared token store never read: every worker process runs its own plugin",
        "kom_async/auth/shared.py",
        "        entry = self.store.read(self.key)\n",
        "        entry = None\n",
        (
            "tests/auth/test_shared_store.py::test_three_worker_processes_with_the_same_clusters_run_each_plugin_once",
            "tests/auth/test_shared_store.py::test_a_token_one_worker_saw_rejected_is_fetched_again_once_for_all",
        ),
    ),
    Mutant(
        "shared token store takes back a rejected token: the token a worker saw refused is served again",
        "kom_async/auth/shared.py",
        "        if value == self._last:\n            return None\n",
        "",
        (
            "tests/auth/test_shared_store.py::test_a_token_one_worker_saw_rejected_is_fetched_again_once_for_all",
        ),
    ),
    Mutant(
        "shared token store without its lock: workers registering at once each run the plugin",
        "kom_async/auth/shared.py",
        "            yield await self._acquire(fd)\n",
        "            yield True\n",
        ("tests/auth/test_shared_store.py::test_two_workers_registering_at_once_wait_for_one_plugin_run",),
    ),
    Mutant(
        "shared token store trusts any entry: one readable by others, or not a regular file, is read",
        "kom_async/auth/shared.py",
        "    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077\n",
        "    return True\n",
        (
            "tests/auth/test_shared_store.py::test_an_entry_readable_by_others_or_not_a_regular_file_is_never_taken",
        ),
    ),
    Mutant(
        "port-forward shutdown noisy: a connection task cancelled by aclose() ends cancelled",
        "kom_async/kubectl/port_forward.py",
        "            task.uncancel()\n",
        "            raise\n",
        (
            "tests/kubectl/test_port_forward_shutdown.py::"
            "test_closing_a_forward_with_an_open_connection_reports_nothing_to_the_loop",
        ),
    ),
    Mutant(
        "lab deployments without conditions: no Available/Progressing in their status",
        "kom_async/lab/controllers.py",
        '    status["conditions"] = _conditions(\n        status.get("conditions"),\n        now,\n'
        '        ("Available"',
        '    status["nothing"] = (\n        status.get("conditions"),\n        now,\n        ("Available"',
        (
            "tests/lab/test_lab_workload_status.py::"
            "test_the_sdk_waits_for_deployment_and_job_conditions_and_every_workload_reports_its_replicas",
            "tests/lab/test_lab_workload_status.py::test_kubectl_wait_for_condition_returns_on_lab_workloads",
        ),
    ),
    Mutant(
        "MCP ownership check off: a tool call may replace or unregister the operator's clusters",
        "kom_async/mcp/owners.py",
        "        if cluster_id in self._clusters and not self.agent_owns(cluster_id):\n",
        "        if False:\n",
        (
            "tests/mcp/test_operator_clusters.py::test_an_agent_cannot_replace_the_operators_cluster_with_its_own_server",
            "tests/mcp/test_operator_clusters.py::test_an_agent_cannot_unregister_the_operators_cluster",
            "tests/mcp/test_operator_clusters.py::test_clusters_the_operators_code_registered_belong_to_the_operator",
        ),
    ),
    Mutant(
        "MCP cluster cap off: agents register as many clusters as they like (--max-clusters ignored)",
        "kom_async/mcp/owners.py",
        "        if not replacing_own and self.agent_count() + self._pending >= self._max:\n",
        "        if False:\n",
        (
            "tests/mcp/test_operator_clusters.py::test_registrations_past_max_clusters_are_refused_even_all_at_once",
            "tests/mcp/test_operator_clusters.py::test_an_agent_registering_past_the_cap_does_not_grow_the_servers_memory",
        ),
    ),
    Mutant(
        "MCP HTTP header timeout off: a connection may take forever to send its headers",
        "kom_async/mcp/httpguard.py",
        "                self._deadline = self.loop.call_later(limits.header_timeout, self.drop)\n",
        "                self._deadline = self.loop.call_later(limits.header_timeout, lambda: None)\n",
        (
            "tests/mcp/test_http_limits.py::test_slow_clients_are_dropped_after_the_header_timeout",
            "tests/mcp/test_http_limits.py::test_every_kind_of_stalled_request_is_dropped",
        ),
    ),
    Mutant(
        "MCP HTTP connection cap off: slow clients may hold every file descriptor",
        "kom_async/mcp/httpguard.py",
        "            if len(self.connections) > limits.max_connections:\n",
        "            if False:\n",
        (
            "tests/mcp/test_http_limits.py::test_more_slow_clients_than_file_descriptors_cannot_lock_out_a_keyed_request",
        ),
    ),
    Mutant(
        "MCP HTTP body cap off: a request body of any size is read",
        "kom_async/mcp/server.py",
        "        max_request_body_size=options.max_request_body,\n",
        "        max_request_body_size=1 << 40,\n",
        ("tests/mcp/test_http_limits.py::test_a_body_over_the_cap_gets_413_without_being_read",),
    ),
    Mutant(
        "MCP secret redaction off: read tools show Secret values",
        "kom_async/mcp/_toolkit.py",
        "        return obj if self.settings.show_secrets else hide_secrets(obj, kind)\n",
        "        return obj\n",
        (
            "tests/mcp/test_secrets_hidden.py::test_read_tools_show_a_secrets_keys_and_sizes_never_its_values",
            "tests/mcp/test_secrets_hidden.py::test_a_patch_answer_hides_the_secret_too",
        ),
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


def judge(mutant: Mutant, index: int, tmp: Path) -> tuple[bool, str]:
    """Apply ``mutant`` to a fresh copy and run its tests: (killed, what to print)."""
    tree = tmp / f"mutant{index}"
    copy_repo(tree)
    try:
        (tree / mutant.path).write_text(mutated(mutant, tree))
        code, failed, tail = run_tests(tree, mutant.tests)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    if code == 1 and failed:
        lines = [f"KILLED   {mutant.name}", f"         ({mutant.path}) by:"]
        for test, cases in _grouped(failed).items():
            lines.append(f"           {test}" + (f" ({cases} cases)" if cases > 1 else ""))
        return True, "\n".join(lines)
    why = "all its tests passed" if code == 0 else f"pytest exit {code}"
    return False, f"SURVIVED {mutant.name}\n         ({mutant.path}): {why}\n{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="select", default="", help="only mutants whose name contains this")
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, help="mutants judged at once (each in its own copy; default 1)"
    )
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("-j/--jobs must be at least 1")
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
        code, _, tail = run_tests(baseline, every_test)
        if code != 0:
            print(f"the named tests do not pass on the unmutated tree (exit {code}):\n{tail}")
            return 1
        print(f"baseline: the {len(every_test)} named tests pass on an unmutated copy", flush=True)
        survivors = 0
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            verdicts = pool.map(lambda im: judge(im[1], im[0], Path(tmp)), enumerate(mutants))
            for killed, report in verdicts:  # in mutant order, as each finishes
                survivors += not killed
                print(report, flush=True)
    total = time.perf_counter() - started
    print(f"{len(mutants) - survivors} of {len(mutants)} mutants killed in {total:.0f} s")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())

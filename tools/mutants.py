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
            "tests/auth/test_provider.py::test_ten_thousand_concurrent_callers_on_a_cold_provider_cause_one_fetch",
        ),
    ),
    Mutant(
        "advisory refresh never starts: callers in the advisory window start no background fetch",
        "kom_async/auth/provider.py",
        "            self._start_fetch(background=True)\n",
        "            pass\n",
        (
            "tests/auth/test_provider.py::test_in_the_advisory_window_one_background_fetch_runs_and_callers_keep_the_old_token",
            "tests/auth/test_provider.py::test_with_the_system_clock_a_loop_timer_ends_the_fast_path_at_the_advisory_deadline",
        ),
    ),
    Mutant(
        "refresh loop never refreshes: the background task returns at once",
        "kom_async/auth/refresh.py",
        "            if delay is None:\n                return",
        "            if True:\n                return",
        (
            "tests/auth/test_refresh.py::test_the_token_is_renewed_before_expiry_with_one_wakeup_per_lifetime",
            "tests/reliability/test_token_source_faults.py::test_a_slow_plugin_during_refresh_makes_no_request_wait",
        ),
    ),
    Mutant(
        "refresh task not cancelled on unregister: it is dropped, still running",
        "kom_async/connection.py",
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
            "tests/auth/test_provider.py::test_token_and_provider_reprs_never_show_the_value",
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
        "plugin group kill off: what an exec plugin started is left running when it exits or times out",
        "kom_async/auth/plugin_process.py",
        "        os.killpg(pgid, signal.SIGKILL)\n",
        "        pass\n",
        (
            "tests/auth/test_exec_leaves_nothing.py::"
            "test_a_plugin_that_exits_while_its_child_holds_the_pipes_returns_its_token_and_leaves_nothing",
            "tests/auth/test_exec_leaves_nothing.py::"
            "test_a_hanging_forking_plugin_killed_at_the_timeout_leaves_no_orphan_and_no_open_pipe",
        ),
    ),
    Mutant(
        "plugin pipes awaited to EOF: a descendant that called setsid holds the fetch as long as it "
        "holds the plugin's stdout",
        "kom_async/auth/plugin_process.py",
        "        with anyio.move_on_after(DRAIN_GRACE):\n",
        "        with anyio.CancelScope():\n",
        (
            "tests/auth/test_exec_descendants.py::"
            "test_a_hanging_plugin_whose_setsid_child_holds_its_pipes_times_out_and_is_reaped[stdout]",
            "tests/auth/test_exec_descendants.py::"
            "test_a_plugin_that_printed_its_credential_and_exited_succeeds_while_a_setsid_child_holds_its_pipes[stdout]",
        ),
    ),
    Mutant(
        "plugin text shown raw: an installHint's or a plugin's stderr escape sequences reach the user",
        "kom_async/printable.py",
        '    return _CONTROL.sub("", _SEQUENCE.sub("", text))\n',
        "    return text\n",
        (
            "tests/auth/test_exec_text.py::"
            "test_an_install_hint_with_escape_sequences_reaches_the_registration_error_without_them",
            "tests/auth/test_exec_text.py::"
            "test_escape_sequences_on_a_failing_plugins_stderr_reach_neither_the_message_nor_the_stderr_attribute",
        ),
    ),
    Mutant(
        "host parser not normalising: the rules read urlsplit's host, not the one yarl/aiohttp connect to",
        "kom_async/config/urls.py",
        "        host, port = parsed.raw_host, parsed.explicit_port\n",
        "        host, port = __import__('urllib.parse').parse.urlsplit(url.strip()).hostname, "
        "parsed.explicit_port\n",
        (
            "tests/config/test_host_parser.py::test_every_spelling_of_a_metadata_address_is_read_as_the_transport_reads_it_and_refused",
            "tests/registry/test_server_pinning.py::test_a_unicode_spelling_of_an_allowed_server_is_the_server_the_transport_reaches",
            "tests/mcp/test_trust_attacks.py::test_no_spelling_of_a_metadata_address_registers",
        ),
    ),
    Mutant(
        "Pod Identity address missing: fd00:ec2::23 (the EKS Pod Identity agent) is not on the "
        "never-a-server list",
        "kom_async/config/policy.py",
        '        "fd00:ec2::23/128",  # EKS Pod Identity agent\n',
        "",
        (
            "tests/config/test_host_parser.py::test_every_spelling_of_a_metadata_address_is_read_as_the_transport_reads_it_and_refused",
            "tests/registry/test_server_pinning.py::test_a_link_local_or_metadata_server_is_refused_in_every_untrusted_mode",
            "tests/mcp/test_trust_attacks.py::test_no_spelling_of_a_metadata_address_registers",
        ),
    ),
    Mutant(
        "client-cert-file host credential rule off: a client certificate or key file counts as the "
        "kubeconfig's own",
        "kom_async/config/policy.py",
        '    if auth.kind == "client-cert" and auth.cert_from_file:\n',
        "    if False:\n",
        (
            "tests/registry/test_host_credentials.py::test_the_operators_client_certificate_file_never_goes_to_a_server_the_agent_names",
            "tests/mcp/test_trust_attacks.py::test_the_operators_client_certificate_files_never_go_to_a_server_the_agent_names",
        ),
    ),
    Mutant(
        "kubeconfig CA accepted for host credentials: an allowed server proves itself with the "
        "kubeconfig's own CA",
        "kom_async/config/policy.py",
        "        ca = dict(self.server_cas).get(normalize_server(server))\n",
        "        ca = dict(self.server_cas).get(normalize_server(server)) or selection.ca_data\n",
        (
            "tests/registry/test_host_credentials.py::test_an_allowed_server_never_proves_itself_with_the_kubeconfigs_own_ca",
            "tests/mcp/test_trust_attacks.py::test_an_allowed_server_gets_the_host_token_only_over_the_operators_ca",
        ),
    ),
    Mutant(
        "https-only rule off: an untrusted kubeconfig may name a plain-http server",
        "kom_async/config/policy.py",
        '        if _server(server).scheme != "https":\n',
        "        if False:\n",
        (
            "tests/mcp/test_trust_attacks.py::test_an_untrusted_kubeconfig_with_its_own_token_may_not_use_plain_http",
        ),
    ),
    Mutant(
        "get-token cache key without the cluster name: --cluster-name c2 gets c1's cached token",
        "kom_async/cli/eks.py",
        "            cluster=cluster,\n",
        '            cluster="",\n',
        (
            "tests/cli/test_get_token_cache_key.py::test_each_cluster_region_and_role_gets_its_own_cached_token",
        ),
    ),
    Mutant(
        "get-token cache key without the region: --region eu-west-1 gets another region's cached token",
        "kom_async/cli/eks.py",
        "            region=args.region,\n",
        "            region=None,\n",
        (
            "tests/cli/test_get_token_cache_key.py::test_each_cluster_region_and_role_gets_its_own_cached_token",
        ),
    ),
    Mutant(
        "get-token cache key without the role ARN: --role-arn gets the caller's own cached token",
        "kom_async/cli/eks.py",
        "            role_arn=args.role_arn,\n",
        "            role_arn=None,\n",
        (
            "tests/cli/test_get_token_cache_key.py::test_each_cluster_region_and_role_gets_its_own_cached_token",
        ),
    ),
    Mutant(
        "401 retry off: a 401 is raised instead of refreshing the token and retrying",
        "kom_async/transport/authflow.py",
        "        except Rejected as first:\n            first.discard()\n",
        "        except Rejected as first:\n            return cast(T, first.final())\n",
        (
            "tests/registry/test_unauthorized.py::test_a_thousand_concurrent_401s_cause_one_refresh_and_all_requests_succeed",
            "tests/registry/test_401_storm.py::test_a_401_storm_with_a_slow_exec_plugin_runs_the_plugin_once",
        ),
    ),
    Mutant(
        "response body cap off: a JSON body is read whatever its size (Limits.max_body ignored)",
        "kom_async/transport/bounded.py",
        "    cap: int = getattr(limits, limit)\n",
        '    cap: int = getattr(limits, limit) if limit != "max_body" else 2**62\n',
        (
            "tests/transport/test_limits.py::test_a_flooded_discovery_document_stops_at_max_body",
            "tests/transport/test_limits.py::test_an_untrusted_cluster_gets_the_untrusted_limits_by_default",
            "tests/transport/test_limits.py::test_limits_on_the_registry_apply_to_every_cluster",
        ),
    ),
    Mutant(
        "error-quote cap off: a refusal's whole message goes into the error",
        "kom_async/transport/rest.py",
        "    message = redact_text(quote(message, quote_limit, unread=unread, cut=cut))\n",
        "    message = redact_text(message)\n",
        ("tests/transport/test_limits.py::test_a_refusal_with_a_huge_message_is_quoted_in_4_kib",),
    ),
    Mutant(
        "log bound off: await pod.logs() reads the log under the body limit, not Limits.max_log",
        "kom_async/transport/rest.py",
        'limit="max_log", hint=hint)',
        'limit="max_body", hint=hint)',
        (
            "tests/transport/test_limits.py::"
            "test_a_flooded_log_is_refused_at_max_log_and_its_tail_held_in_bounded_memory",
        ),
    ),
    Mutant(
        "log tail bound off: LogStream.tail() reads a log of any length",
        "kom_async/kubectl/logs.py",
        "                if total > limits.max_log:\n",
        "                if False:\n",
        (
            "tests/transport/test_limits.py::"
            "test_a_flooded_log_is_refused_at_max_log_and_its_tail_held_in_bounded_memory",
        ),
    ),
    Mutant(
        "exec max_output off: exec() holds whatever the command writes",
        "kom_async/kubectl/pod_exec.py",
        "        if self._held > self._max_output:\n",
        "        if False:\n",
        ("tests/transport/test_limits.py::test_exec_output_stops_at_max_output",),
    ),
    Mutant(
        "watch line cap off: a watch event is read with aiohttp's readline (its own LineTooLong)",
        "kom_async/transport/bounded.py",
        '        return await content.readuntil(b"\\n", max_size=limits.max_watch_line)\n',
        "        return await content.readline()\n",
        (
            "tests/transport/test_limits.py::test_an_endless_watch_line_is_refused_at_max_watch_line",
            "tests/transport/test_limits.py::test_a_big_watch_event_within_max_watch_line_is_read",
        ),
    ),
    Mutant(
        "upgrade skips the auth flow's retry: a 401 to an exec/port-forward upgrade is raised as is",
        "kom_async/transport/ws.py",
        "            raise Rejected(exc) from None\n",
        "            raise\n",
        (
            "tests/transport/test_auth_flow.py::test_an_eks_identity_refused_at_the_upgrades_is_permission_denied",
            "tests/kubectl/test_pod_exec.py::test_a_401_on_the_exec_upgrade_refreshes_once_and_retries_once",
        ),
    ),
    Mutant(
        "port-forward error channel ignored: a port the pod refuses looks like an empty answer",
        "kom_async/kubectl/port_forward.py",
        "            elif channel == ERROR and payload:\n",
        "            elif False:\n",
        ("tests/kubectl/test_port_forward.py::test_a_port_the_pod_refuses_comes_back_on_the_error_channel",),
    ),
    Mutant(
        "wait() ignores observedGeneration: a condition of an older spec counts as met",
        "kom_async/kubectl/wait.py",
        "        if isinstance(generation, int) and isinstance(observed, int) and observed < generation:\n",
        "        if False:\n",
        ("tests/kubectl/test_wait.py::test_a_condition_of_an_older_generation_does_not_count",),
    ),
    Mutant(
        "describe cache never expires: a DescribeCluster answer is reused for ever",
        "kom_async/_connect.py",
        "        if self._clock.time() >= stale_at:\n",
        "        if False:\n",
        (
            "tests/registry/test_describe_cache.py::test_a_describe_answer_is_reused_for_minutes_then_asked_again",
        ),
    ),
    Mutant(
        "describe cache not dropped on ClusterNotFound: a deleted or DELETING cluster registers from it",
        "kom_async/_connect.py",
        "            if answer.kind is EKSAuthErrorKind.ClusterNotFound:\n",
        "            if False:\n",
        (
            "tests/registry/test_fleet_discovery.py::"
            "test_a_cluster_discovery_saw_deleted_or_deleting_is_not_registered_again_from_the_cache",
        ),
    ),
    Mutant(
        "EKS throttling not retried: a ThrottlingException fails a discovered region at once",
        "kom_async/auth/eks/eks_api.py",
        "            if retry >= backoff.attempts or not retryable(exc):\n",
        "            if True:\n",
        (
            "tests/registry/test_fleet_discovery.py::test_throttled_calls_are_retried_with_backoff_and_discovery_succeeds",
        ),
    ),
    Mutant(
        "discovery per-region failure aborts everything: one denied region raises out of discover_eks",
        "kom_async/auth/eks/discovery.py",
        "            scan.failures.append(\n"
        "                DiscoveryFailure(scan.source, scan.account, scan.region, _region_error(exc, scan))\n"
        "            )\n",
        "            raise\n",
        (
            "tests/registry/test_fleet_discovery.py::test_three_accounts_by_four_regions_with_one_region_denied_registers_the_other_eleven",
            "tests/registry/test_fleet_discovery.py::test_an_opt_in_region_the_account_has_not_enabled_is_reported_with_what_to_do",
        ),
    ),
    Mutant(
        "describe cache not dropped on unregister: the same registry re-registers a deleted cluster",
        "kom_async/clusters.py",
        "            self._connector.forget_described(cluster.eks)\n",
        "            pass\n",
        (
            "tests/registry/test_describe_cache.py::"
            "test_after_unregister_a_deleted_or_deleting_cluster_is_refused_as_a_fresh_registry_would",
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
        "kom_async/mcp/toolbase.py",
        "        return obj if self.settings.show_secrets else hide_secrets(obj, kind)\n",
        "        return obj\n",
        (
            "tests/mcp/test_secrets_hidden.py::test_read_tools_show_a_secrets_keys_and_sizes_never_its_values",
            "tests/mcp/test_secrets_hidden.py::test_a_patch_answer_hides_the_secret_too",
        ),
    ),
    Mutant(
        "YAML bound skipped in the MCP patch tool: patch text is parsed with yaml.safe_load",
        "kom_async/mcp/write.py",
        "                body = load_one(patch)\n",
        "                body = yaml.safe_load(patch)\n",
        (
            "tests/mcp/test_yaml_bounds.py::test_an_alias_bomb_patch_is_refused_while_another_client_is_served",
            "tests/test_one_reader.py::test_yaml_is_parsed_only_by_the_bounded_loader",
        ),
    ),
    Mutant(
        "bounded reader's regular-file check off: FIFOs, devices and directories are read",
        "kom_async/config/readfile.py",
        "    if not stat.S_ISREG(mode):\n",
        "    if False:\n",
        (
            "tests/registry/test_special_files.py::test_a_token_file_replaced_by_a_fifo_fails_the_next_request_with_a_typed_error",
            "tests/registry/test_special_files.py::test_a_service_account_token_that_is_not_a_regular_file_is_refused_at_once",
            "tests/registry/test_special_files.py::test_dev_zero_named_by_a_kubeconfig_is_refused_promptly",
            "tests/auth/eks/test_eks_token_cache.py::test_a_fifo_in_place_of_a_cache_entry_is_a_miss_and_get_token_succeeds",
        ),
    ),
    Mutant(
        "bounded reader's size cap off: a file of any size is read whole",
        "kom_async/config/readfile.py",
        "        if st.st_size > limit:\n            raise _too_large(limit)\n"
        "        return _read_at_most(fd, limit)\n",
        "        return _read_at_most(fd, 1 << 62)\n",
        (
            "tests/registry/test_special_files.py::test_a_token_file_over_its_cap_is_refused_unread",
            "tests/registry/test_special_files.py::test_a_ca_file_over_its_cap_is_refused_unread",
        ),
    ),
    Mutant(
        "FileTokenSource's re-read goes around the bounded reader (a plain read_bytes)",
        "kom_async/auth/static.py",
        "await asyncio.to_thread(self._read)",
        "await asyncio.to_thread(self.path.read_bytes)",
        (
            "tests/registry/test_special_files.py::test_a_token_file_replaced_by_a_fifo_fails_the_next_request_with_a_typed_error",
            "tests/test_one_reader.py::test_files_are_read_only_by_the_bounded_reader",
        ),
    ),
    Mutant(
        "an untrusted tokenFile's allowed directories are checked on the first read only",
        "kom_async/_connect.py",
        "FileTokenSource(auth.token_file, allowed_dirs=auth.token_file_dirs)",
        "FileTokenSource(auth.token_file)",
        (
            "tests/registry/test_special_files.py::"
            "test_an_untrusted_token_file_swapped_for_a_link_outside_the_allowed_dirs_is_refused_on_reread",
        ),
    ),
    Mutant(
        "backoff without jitter: clients that failed together all retry at the same moment",
        "kom_async/backoff.py",
        "    if rng is None:\n        return ceiling\n",
        "    return ceiling\n",
        (
            "tests/test_backoff.py::test_jitter_draws_from_the_upper_half_of_the_wait_and_spreads_over_it",
            "tests/test_backoff.py::test_the_retry_and_refresh_policies_wait_by_the_formula",
        ),
    ),
    Mutant(
        "backoff uncapped: the wait keeps doubling past the cap",
        "kom_async/backoff.py",
        "    ceiling = min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))\n",
        "    ceiling = base * 2.0 ** min(attempt - 1, _MAX_EXPONENT)\n",
        (
            "tests/test_backoff.py::test_the_wait_doubles_from_the_base_up_to_the_cap",
            "tests/test_backoff.py::test_a_million_failures_in_a_row_still_wait_the_cap",
        ),
    ),
    Mutant(
        "backoff exponent unbounded: the 1,025th failure in a row raises OverflowError",
        "kom_async/backoff.py",
        "base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))",
        "base * 2.0 ** (attempt - 1))",
        ("tests/test_backoff.py::test_a_million_failures_in_a_row_still_wait_the_cap",),
    ),
    Mutant(
        "backoff of watch reconnects not jittered: the watches of a restarted server reconnect together",
        "kom_async/kubectl/watch.py",
        "rng=_JITTER)",
        "rng=None)",
        (
            "tests/test_backoff.py::test_a_watch_reconnecting_to_a_refusing_server_waits_jittered_growing_times",
        ),
    ),
    Mutant(
        "backoff of the refresh loop does not grow: a failing source is asked every second",
        "kom_async/auth/refresh.py",
        "            wait = provider.policy.backoff(failures)\n",
        "            wait = provider.policy.backoff(1)\n",
        ("tests/auth/test_timing.py::test_the_refresh_loop_backs_off_by_its_providers_policy",),
    ),
    Mutant(
        "refresh timing: short-lived tokens' windows not scaled, so a 2-minute token is refreshed on arrival",
        "kom_async/auth/timing.py",
        "min(self.advisory_window, lifetime * self.ADVISORY_FRACTION)",
        "self.advisory_window",
        (
            "tests/auth/test_timing.py::test_a_two_minute_token_is_used_before_it_is_refreshed",
            "tests/auth/test_timing.py::"
            "test_a_fourteen_minute_token_is_refreshed_three_minutes_and_waited_for_one_minute_before_expiry",
        ),
    ),
    Mutant(
        "refresh timing: no fail-fast time after a failed fetch, every caller queues on the failing source",
        "kom_async/auth/provider.py",
        "            self._retry_at = self._time() + self.policy.fail_fast(self._failures_in_row)\n",
        "            self._retry_at = self._time()\n",
        (
            "tests/auth/test_timing.py::test_after_failed_fetches_callers_fail_fast_for_the_policys_growing_time",
        ),
    ),
    Mutant(
        "refresh timing: the get-token cache margin is not the advisory window: tokens due a refresh served",
        "kom_async/auth/eks/token_cache.py",
        "margin: float = ADVISORY_WINDOW",
        "margin: float = 0.0",
        (
            "tests/auth/eks/test_eks_token_cache.py::test_a_token_inside_the_margin_is_not_served",
            "tests/auth/test_timing.py::"
            "test_a_fourteen_minute_token_is_refreshed_three_minutes_and_waited_for_one_minute_before_expiry",
        ),
    ),
    Mutant(
        "scrubber key shapes off: an AWS access key id in foreign text survives",
        "kom_async/scrub.py",
        '            r"\\b(?:AKIA|ASIA|AROA|AIDA|ANPA|ANVA|AGPA)[A-Z0-9]{12,}\\b",',
        '            r"(?!x)x",',
        (
            "tests/test_scrub_corpus.py::test_every_secret_shape_is_redacted_on_its_own_in_a_sentence",
            "tests/auth/test_exec_leaves_nothing.py::test_secrets_a_plugin_prints_on_stderr_never_reach_the_error",
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
        "if TYPE_CHECKING:\n    from kom_async.lab.accounts import LabAccount, LabError\n",
        "if True:\n    from kom_async.lab.accounts import LabAccount, LabError\n",
        ("tests/test_lab_plugin_lazy.py::test_registering_the_pytest_plugin_imports_no_extra",),
    ),
    Mutant(
        "admission never asks DescribeCluster: an untrusted EKS kubeconfig's own server gets the "
        "host's token unconfirmed",
        "kom_async/config/admission.py",
        "    confirm = eks is not None and trust.needs_eks_check(selection.server)\n",
        "    confirm = False\n",
        (
            "tests/config/test_admission.py::"
            "test_an_untrusted_eks_server_is_admitted_only_once_describe_cluster_reports_it",
            "tests/registry/test_server_pinning.py::test_pinned_an_eks_kubeconfig_naming_another_server_is_refused",
        ),
    ),
    Mutant(
        "admission confirms any endpoint: DescribeCluster reporting another server still admits "
        "the kubeconfig's own",
        "kom_async/config/admission.py",
        "        if normalize_server(endpoint) != normalize_server(self.selection.server):\n",
        "        if False:\n",
        (
            "tests/config/test_admission.py::"
            "test_an_untrusted_eks_server_is_admitted_only_once_describe_cluster_reports_it",
            "tests/registry/test_server_pinning.py::test_pinned_an_eks_kubeconfig_naming_another_server_is_refused",
        ),
    ),
    Mutant(
        "admission skips the cluster id: an id with a newline is registered (and forges log lines)",
        "kom_async/config/admission.py",
        '    cid = cluster_id or selection.context_name\n    check_name(cid, "cluster_id")\n',
        "    cid = cluster_id or selection.context_name\n",
        (
            "tests/config/test_admission.py::test_the_cluster_id_is_checked_before_the_eks_user_is_read",
            "tests/mcp/test_hostile_input.py::test_a_cluster_id_with_a_newline_is_refused",
        ),
    ),
    Mutant(
        "pool total cap off: the shared pool opens as many connections as requests ask for",
        "kom_async/transport/pool.py",
        "                limit=limits.max_connections or 0,\n",
        "                limit=0,\n",
        ("tests/transport/test_pool.py::test_the_total_cap_holds_over_a_fan_out",),
    ),
    Mutant(
        "pool per-request TLS context not applied: the first cluster's CA verifies every cluster "
        "(a wrong CA accepted)",
        "kom_async/transport/pool.py",
        "            ctx = await self._pool.context_in_turn(self.tls)\n"
        "            return await self._pool.session().request(method, url, ssl=ctx, **kwargs)\n",
        "            ctx = next(iter(self._pool._contexts.values()), None)"
        " or await self._pool.context_in_turn(self.tls)\n"
        "            return await self._pool.session().request(method, url, ssl=ctx, **kwargs)\n",
        ("tests/transport/test_pool.py::test_a_wrong_ca_fails_tls_on_the_shared_pool",),
    ),
    Mutant(
        "pool idle connections not capped: every cluster a fan-out touched keeps its connection",
        "kom_async/transport/pool.py",
        "        super()._release(key, protocol, should_close=should_close)\n        self._trim()\n",
        "        super()._release(key, protocol, should_close=should_close)\n",
        ("tests/transport/test_pool.py::test_idle_connections_are_capped",),
    ),
    Mutant(
        "loop turns off: every CPU-heavy step that falls due runs in the same loop iteration",
        "kom_async/auth/turns.py",
        "        if not self._waiters and now - self._started < self.budget:\n",
        "        if True:\n",
        ("tests/auth/test_turns.py::test_steps_that_fall_due_together_run_one_per_loop_iteration",),
    ),
    Mutant(
        "gc_quiet lets full collections run: bulk registration stalls the loop for the whole heap",
        "kom_async/auth/gcpause.py",
        "        gc.set_threshold(_saved[0], _saved[1], _NO_FULL_COLLECTION)\n",
        "        pass\n",
        ("tests/auth/test_gcpause.py::test_no_full_collection_inside_and_survivors_frozen_after",),
    ),
    Mutant(
        "DescribeCluster answer cap off: a flooding EKS endpoint is read to its end",
        "kom_async/auth/eks/eks_api.py",
        "        if size > MAX_ANSWER_BYTES:\n",
        "        if False:\n",
        ("tests/auth/eks/test_eks_api.py::test_a_flooding_eks_endpoint_is_cut_at_the_cap",),
    ),
    Mutant(
        "DescribeCluster ignores the AWS CA bundle: only botocore's default CAs are trusted",
        "kom_async/auth/eks/eks_api.py",
        '    where = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or get_cert_path(True)\n',
        "    where = get_cert_path(True)\n",
        ("tests/auth/eks/test_eks_api.py::test_the_aws_ca_bundle_decides_whom_describe_trusts",),
    ),
    Mutant(
        "DescribeCluster signed without the session token: temporary credentials are refused",
        "kom_async/auth/eks/sign.py",
        '        signed_values["x-amz-security-token"] = keys.token\n',
        "        pass\n",
        ("tests/auth/eks/test_eks_api.py::test_signed_headers_are_botocores_byte_for_byte",),
    ),
    Mutant(
        "wake-ups not batched: every sleeper due at once wakes in the same loop iteration",
        "kom_async/auth/wakeups.py",
        "        while heap and woken < self.per_iteration and heap[0][0] <= now:\n",
        "        while heap and heap[0][0] <= now:\n",
        ("tests/auth/test_wakeups.py::test_sleepers_due_together_wake_a_batch_per_loop_iteration",),
    ),
    Mutant(
        "refresh loops off the registry's timer: each sleeps on the clock by itself",
        "kom_async/auth/refresh.py",
        "    sleep = wakeups.sleep if wakeups is not None else clock.sleep\n",
        "    sleep = clock.sleep\n",
        ("tests/registry/test_refresh_timer.py::test_the_refresh_loops_of_a_registry_sleep_on_its_one_timer",),
    ),
    Mutant(
        "wake-up timer left running: the last sleeper leaves and the task stays",
        "kom_async/auth/wakeups.py",
        "            if self._live == 0:\n                await self._stop()",
        "            if False:\n                await self._stop()",
        ("tests/auth/test_wakeups.py::test_the_last_sleeper_to_leave_ends_the_timer_task",),
    ),
    Mutant(
        "describe cache freed in one go at close: 10,000 answers stall the loop",
        "kom_async/_connect.py",
        "                del endpoints[key]\n            await asyncio.sleep(0)\n",
        "                del endpoints[key]\n",
        ("tests/registry/test_describe_cache.py::test_closing_frees_the_cached_answers_a_slice_per_loop_turn",),
    ),
    Mutant(
        "gather makes a task per cluster: 10,000 tasks at once, their memory left scattered after",
        "kom_async/clusters.py",
        "            for i in range(min(concurrency, len(targets))):\n",
        "            for i in range(len(targets)):\n",
        ("tests/registry/test_gather.py::test_gather_runs_its_calls_in_as_many_tasks_as_its_concurrency",),
    ),
]


#: the mutants CI runs (``--ci``), each named by its short name (before the colon): one per rule of
#: the trust boundary whose tests are quick; ``nox -s mutants`` runs them all
CI_MUTANTS = frozenset(
    {
        "host parser not normalising",
        "Pod Identity address missing",
        "client-cert-file host credential rule off",
        "kubeconfig CA accepted for host credentials",
        "https-only rule off",
        "get-token cache key without the cluster name",
        "response body cap off",
        "error-quote cap off",
        "log bound off",
        "exec max_output off",
        "watch line cap off",
        "upgrade skips the auth flow's retry",
        "MCP ownership check off",
        "MCP secret redaction off",
        "YAML bound skipped in the MCP patch tool",
        "bounded reader's regular-file check off",
        "bounded reader's size cap off",
        "plugin pipes awaited to EOF",
        "plugin text shown raw",
        "shared token store never read",
        "DescribeCluster answer cap off",
    }
)


def short_name(mutant: Mutant) -> str:
    """A mutant's name up to its colon: what ``CI_MUTANTS`` lists."""
    return mutant.name.split(":", 1)[0]


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
    parser.add_argument("--ci", action="store_true", help="only the mutants CI runs (CI_MUTANTS)")
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, help="mutants judged at once (each in its own copy; default 1)"
    )
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("-j/--jobs must be at least 1")
    mutants = [m for m in MUTANTS if args.select in m.name and (not args.ci or short_name(m) in CI_MUTANTS)]
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

"""Token source faults during background refresh: the plugin or STS failing, hanging, slow.

The exec plugin here is a real process (named ``aws-iam-authenticator`` so the cluster is an
EKS one) whose next answer each test sets; the registry, the lab and the plugin share one
virtual clock, so "15 minutes later" takes no real time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio.client import CoreV1Api
from reliability_helpers import ControlledPlugin, fd_kinds, kom_tasks, open_fds, pid_alive, wait_for

from kom_async import Clusters, Kubectl, RefreshPolicy, TokenProvider
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, ExecPluginError, KomError
from kom_async.lab import EKSLab, FakeClock

LIFETIME = 840  # what aws eks get-token reports: 14 minutes
REFRESH_AT = LIFETIME - 180 - 60  # advisory window (3 min) minus the loop's lead (1 min), no jitter
BACKOFF_CAP = 8.0


@dataclass
class Rig:
    lab: EKSLab
    clock: FakeClock
    clusters: Clusters
    plugin: ControlledPlugin
    kubectl: Kubectl
    provider: TokenProvider
    name: str

    def issue(self, token: str, lifetime: float = LIFETIME, *, slow: float = 0.0) -> None:
        """The plugin's next runs print ``token`` (accepted by the lab), valid ``lifetime`` s."""
        self.lab.add_static_token(self.name, token)
        self.plugin.set_now(self.clock.now())
        if slow:
            self.plugin.set("slow", slow, token, lifetime)
        else:
            self.plugin.set("ok", token, lifetime)

    async def settle(self) -> None:
        """Let every plugin run finish and the refresh loop go back to sleep (real time)."""
        await wait_for(lambda: self.clock.sleepers >= 1 and not _fetching(self.provider), timeout=15)

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.plugin.set_now(self.clock.now()) if self.plugin.mode_file.read_text().startswith("ok") else None
        await asyncio.sleep(0)
        await self.settle()

    async def request(self) -> None:
        """One API call."""
        await CoreV1Api(self.kubectl.api_client).list_namespace()

    def fetching(self) -> bool:
        """A token fetch (plugin run) is in flight."""
        return _fetching(self.provider)


def _fetching(provider: TokenProvider) -> bool:
    return any(
        t.get_name() == f"kom-async:fetch:{provider.name}" and not t.done() for t in asyncio.all_tasks()
    )


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """A registered EKS cluster served by the controlled plugin; ``indirect`` param: exec timeout."""
    exec_timeout = getattr(request, "param", 1.0)
    clock = FakeClock()
    policy = RefreshPolicy(jitter=0.0, backoff_base=1.0, backoff_cap=BACKOFF_CAP, rng=random.Random(11))
    async with EKSLab(clock=clock) as lab, Clusters(clock=clock, refresh_policy=policy) as clusters:
        await lab.create_cluster("src")
        plugin = ControlledPlugin(tmp_path)
        rig = Rig(lab, clock, clusters, plugin, None, None, "src")  # type: ignore[arg-type]
        rig.issue("tok-first-0001")
        text = lab.kubeconfig(
            "src", exec_command=plugin.path, exec_args=["token", "-i", "src"], env=plugin.env
        )
        rig.kubectl = await clusters.register_by_string(
            text, cluster_id="src", token_source="exec", exec_timeout=exec_timeout
        )
        cluster = clusters.get("src")
        assert cluster.is_eks and cluster.token_provider is not None
        rig.provider = cluster.token_provider
        await rig.settle()
        yield rig


def warnings_about(caplog: pytest.LogCaptureFixture, since: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records[since:]
        if r.levelno >= logging.WARNING and r.name.startswith("kom_async")
    ]


async def test_a_failing_plugin_during_refresh_costs_no_request_logs_once_per_step_and_recovers(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first = rig.provider.token
    rig.plugin.set("fail")
    mark = len(caplog.records)
    await rig.advance(REFRESH_AT)  # the first refresh attempt fails
    steps = 1
    await rig.request()
    for _ in range(5):  # 1, 2, 4, 8, 8 s backoff (at most): each step is one more attempt
        await rig.advance(BACKOFF_CAP)
        steps += 1
        await rig.request()
    attempts = [m for _, m in rig.plugin.runs()[1:]]
    # one plugin run per backoff step and none for the requests: nobody waited for the plugin
    assert attempts == ["fail"] * steps
    assert rig.provider.token is first  # still valid, still served
    logged = warnings_about(caplog, mark)
    assert len(logged) == steps, logged  # exactly one line per backoff step
    assert all("background token refresh for src failed" in m for m in logged)
    # the plugin works again: the next attempt, at most one backoff interval later, succeeds
    rig.issue("tok-second-0002")
    await rig.advance(BACKOFF_CAP)
    assert rig.provider.token is not first and rig.provider.token is not None
    assert rig.provider.token.value == "tok-second-0002"
    await rig.request()
    stats = rig.provider.stats
    assert stats.refresh_failures == steps and stats.fetches == 2 and stats.last_error is None


async def test_a_plugin_failing_past_expiry_fails_requests_fast_saying_when_it_last_worked(rig: Rig) -> None:
    rig.plugin.set("fail")
    await rig.advance(REFRESH_AT)
    for _ in range(40):  # keep failing until the token is past its expiry
        await rig.advance(BACKOFF_CAP)
    expires_at = rig.provider.token.expires_at if rig.provider.token else None
    assert expires_at is not None and rig.clock.now() > expires_at
    runs = len(rig.plugin.runs())
    with pytest.raises(EKSAuthError) as info:
        await rig.request()
    # fast: the plugin failed moments ago, so the request fails without queueing on it again
    assert len(rig.plugin.runs()) == runs
    assert info.value.kind is EKSAuthErrorKind.TokenExpired
    assert info.value.last_success is not None and "last successful fetch at" in str(info.value)
    assert info.value.cluster_id == "src"
    # and a hanging plugin past expiry costs one exec timeout, not a hang
    rig.plugin.set("hang")
    await rig.advance(60)
    with pytest.raises(EKSAuthError) as info:
        await asyncio.wait_for(rig.request(), 30)  # a ceiling against a hang, far above 1 s
    # what ended the request is the 1 s exec timeout, not the 600 s the plugin would hang
    assert info.value.kind is EKSAuthErrorKind.TokenExpired and "did not finish within 1 s" in str(info.value)
    await rig.settle()
    # back to normal once the plugin answers again
    rig.issue("tok-back-0003")
    await rig.advance(BACKOFF_CAP)
    await rig.request()


@pytest.mark.parametrize("rig", [3.0], indirect=True)  # exec timeout: room for a request on a busy machine
async def test_a_plugin_hanging_during_refresh_is_killed_and_reaped_while_requests_go_on(rig: Rig) -> None:
    await rig.request()  # the pooled keep-alive connection is part of the baseline
    fds = open_fds()
    rig.plugin.set("hang")
    rig.clock.advance(REFRESH_AT)
    await wait_for(lambda: len(rig.plugin.runs()) == 2)
    pid = rig.plugin.runs()[-1][0]
    assert pid_alive(pid)
    await rig.request()
    # served from the cached token while the plugin still hangs: nobody waited for it
    assert rig.fetching() and pid_alive(pid)
    await rig.settle()  # the exec timeout kills it
    assert not pid_alive(pid)
    assert rig.provider.stats.refresh_failures == 1
    assert "did not finish within 3 s" in (rig.provider.stats.last_error or "")
    await asyncio.sleep(0.05)
    leaked = fd_kinds(open_fds() - fds)
    assert not leaked, f"file descriptors left open: {leaked}"


@pytest.mark.parametrize("rig", [30.0], indirect=True)  # the gate, not the exec timeout, ends the run
async def test_a_slow_plugin_during_refresh_makes_no_request_wait(rig: Rig, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    rig.lab.add_static_token(rig.name, "tok-slow-0004")
    rig.plugin.set_now(rig.clock.now())
    rig.plugin.set("gated", gate, "tok-slow-0004", LIFETIME)
    rig.clock.advance(REFRESH_AT)
    await wait_for(lambda: len(rig.plugin.runs()) == 2)
    for _ in range(5):
        await asyncio.wait_for(rig.request(), 30)  # waiting for the gated plugin would hang
        # the request is done while the plugin is still running: it did not wait for it
        assert rig.fetching() and rig.provider.token is not None
        assert rig.provider.token.value == "tok-first-0001"
    gate.write_text("go")
    await rig.settle()
    assert rig.provider.token is not None and rig.provider.token.value == "tok-slow-0004"


async def test_a_plugin_flooding_stdout_and_stderr_fails_cleanly_through_the_registry(
    lab: EKSLab, tmp_path: Path
) -> None:
    from reliability_helpers import write_plugin

    await lab.create_cluster("flood")
    plugin = write_plugin(
        tmp_path,
        "flooder",
        "import sys\nsys.stderr.write('e' * (4 << 20))\nsys.stdout.write('o' * (3 << 20))\n",
    )
    async with Clusters() as clusters:
        started = time.perf_counter()
        with pytest.raises(ExecPluginError, match="more than 1048576 bytes"):
            await clusters.register_by_string(
                lab.kubeconfig("flood", exec_command=plugin, exec_args=[], env={})
            )
        assert time.perf_counter() - started < 10 and kom_tasks() == []


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({"token": "t-expired-0000", "expirationTimestamp": "2001-01-01T00:00:00Z"}, "already expired"),
        ({"token": "t-malformed-00", "expirationTimestamp": "2026-13-45T99:00:00Z"}, "not an RFC 3339"),
        ({"token": "t-naive-00000", "expirationTimestamp": "2030-01-01T00:00:00"}, "not an RFC 3339"),
        ({"token": "t-number-0000", "expirationTimestamp": 1893456000}, "not a string"),
    ],
)
async def test_an_expired_or_malformed_expiry_is_a_clear_registration_error(
    lab: EKSLab, tmp_path: Path, status: dict[str, object], reason: str
) -> None:
    import json

    from reliability_helpers import write_plugin

    await lab.create_cluster("badexp")
    doc = {"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "status": status}
    plugin = write_plugin(tmp_path, "aws-iam-authenticator", f"print({json.dumps(json.dumps(doc))})\n")
    text = lab.kubeconfig("badexp", exec_command=plugin, exec_args=["token", "-i", "badexp"], env={})
    async with Clusters() as clusters:
        with pytest.raises(EKSAuthError) as info:
            await clusters.register_by_string(text, cluster_id="badexp", token_source="exec")
        assert info.value.kind is EKSAuthErrorKind.ExecFailed and reason in str(info.value)
        assert "badexp" not in clusters and kom_tasks() == []


# -- STS itself failing (native tokens that assume a role) --------------------------------------


async def role_kubeconfig(lab: EKSLab, name: str) -> str:
    await lab.create_cluster(name)
    role = await lab.create_role(f"{name}-role", map_as=f"{name}-user")
    return lab.kubeconfig(name, role_arn=role)


async def test_sts_briefly_failing_at_registration_is_absorbed(lab: EKSLab) -> None:
    text = await role_kubeconfig(lab, "stsblip")
    lab.sts_fault(status=503, count=1)
    async with Clusters() as clusters:
        k = await clusters.register_by_string(text, cluster_id="stsblip")
        assert clusters.get("stsblip").token_provider.source.kind == "eks-native"  # type: ignore[union-attr]
        await CoreV1Api(k.api_client).list_namespace()


@pytest.mark.parametrize("fault", [{"unavailable": True}, {"status": 403}])
async def test_sts_unreachable_or_refusing_fails_registration_fast_with_an_eks_error(
    lab: EKSLab, fault: dict[str, object]
) -> None:
    text = await role_kubeconfig(lab, "stsdown")
    lab.sts_fault(**fault)  # type: ignore[arg-type]
    async with Clusters() as clusters:
        before = lab.aws_requests()["sts"]
        with pytest.raises(KomError) as info:
            await asyncio.wait_for(clusters.register_by_string(text, cluster_id="stsdown"), 30)
        attempts = lab.aws_requests()["sts"] - before
        assert isinstance(info.value, EKSAuthError), repr(info.value)
        assert info.value.kind in (EKSAuthErrorKind.NetworkError, EKSAuthErrorKind.PermissionDenied)
        # our 3 attempts reach the lab as at most 4 requests (a dropped connection costs aiobotocore
        # one more); botocore's default legacy policy sends 5, with ~10 s of backoff between them
        assert 1 <= attempts <= 4, attempts
        assert "stsdown" not in clusters and kom_tasks() == []


async def test_native_tokens_keep_coming_while_sts_is_down_once_the_role_is_assumed(lab: EKSLab) -> None:
    """Native tokens are presigned locally: after the role's credentials are obtained, an STS
    outage does not stop refreshes (the AWS CLI would call STS on every run)."""
    text = await role_kubeconfig(lab, "stsgone")
    async with Clusters() as clusters:
        k = await clusters.register_by_string(text, cluster_id="stsgone")
        provider = clusters.get("stsgone").token_provider
        assert provider is not None and provider.token is not None
        first = provider.token
        lab.sts_fault(unavailable=True)
        before = lab.aws_requests()["sts"]
        fresh = await provider.refresh()
        assert fresh is not first
        assert lab.aws_requests()["sts"] == before  # no STS call was needed (nor waited for)
        await CoreV1Api(k.api_client).list_namespace()


async def test_a_slow_sts_at_registration_only_delays_it(lab: EKSLab) -> None:
    text = await role_kubeconfig(lab, "stsslow")
    lab.sts_fault(delay=1.0, count=1)
    async with Clusters() as clusters:
        started = time.perf_counter()
        k = await clusters.register_by_string(text, cluster_id="stsslow")
        assert 1.0 <= time.perf_counter() - started < 10
        await CoreV1Api(k.api_client).list_namespace()

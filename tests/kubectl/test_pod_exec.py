"""Pod exec over real WebSockets to the lab: output, exit codes, stdin, streaming, v4, 401s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubectl_helpers import CountingApiClient

from kom_async import Clusters
from kom_async.errors import ExecError, ExecTimeout, InvalidName, KomError, NotFound, QueryError, Unauthorized
from kom_async.kubectl import Kubectl
from kom_async.kubectl import pod_exec as podexec
from kom_async.lab import EKSLab, LabCluster
from kom_async.transport import ws
from kom_async.transport.rest import Target

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_exec_returns_stdout_and_exit_code_zero(kubectl: Kubectl) -> None:
    result = await kubectl.pod("web-0", "demo").exec(["echo", "hello", "world"])
    assert result.stdout == b"hello world\n"
    assert result.stderr == b""
    assert result.exit_code == 0 and result.ok


async def test_exec_reports_stderr_and_a_non_zero_exit_code_from_the_status_channel(kubectl: Kubectl) -> None:
    result = await kubectl.pod("web-0", "demo").exec(["sh", "-c", "echo out; echo oops >&2; exit 3"])
    assert result.stdout == b"out\n"
    assert result.stderr == b"oops\n"
    assert result.exit_code == 3 and not result.ok


async def test_exec_feeds_stdin_and_closes_it(kubectl: Kubectl) -> None:
    pod = kubectl.pod("web-0", "demo")
    assert (await pod.exec(["cat"], stdin=b"line 1\nline 2\n", timeout=30)).stdout == b"line 1\nline 2\n"
    assert (await pod.exec(["cat"], stdin="grüße", timeout=30)).stdout == "grüße".encode()
    big = bytes(range(256)) * 2048  # 512 KiB: many stdin messages, echoed while still sending
    assert (await pod.exec(["wc", "-c"], stdin=big, timeout=30)).stdout.split()[0] == str(len(big)).encode()
    assert (await pod.exec(["cat"], stdin=big, timeout=30)).stdout == big


async def test_exec_stream_interleaves_stdin_and_stdout(kubectl: Kubectl) -> None:
    async with kubectl.pod("web-0", "demo").exec_stream(["cat"], stdin=True) as proc:
        assert proc.protocol == "v5.channel.k8s.io"
        stdout = proc.stdout
        await proc.write(b"ping\n")
        assert await anext(stdout) == b"ping\n"  # the answer comes before stdin is closed
        await proc.write("pong\n")
        assert await anext(stdout) == b"pong\n"
        await proc.close_stdin()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert proc.exit_code == 0


async def test_exec_stream_reads_stderr_and_stdout_separately(kubectl: Kubectl) -> None:
    script = "echo a; echo b >&2; echo c; exit 7"
    async with kubectl.pod("web-0", "demo").exec_stream(["sh", "-c", script]) as proc:
        err = b"".join([chunk async for chunk in proc.stderr])
        out = b"".join([chunk async for chunk in proc.stdout])  # kept while stderr was read
        assert (out, err) == (b"a\nc\n", b"b\n")
        assert await proc.wait() == 7
        with pytest.raises(ExecError, match="stdin"):
            await proc.write(b"too late")


async def test_a_v4_only_exchange_still_reports_the_exit_code(
    kubectl: Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(podexec, "PROTOCOLS", (podexec.V4,))  # offer only the older protocol
    async with kubectl.pod("web-0", "demo").exec_stream(["sh", "-c", "echo v4; exit 2"]) as proc:
        assert proc.protocol == "v4.channel.k8s.io"
        assert await proc.wait() == 2
        assert proc.drain(podexec.STDOUT) == b"v4\n"


async def test_a_program_that_does_not_exist_is_an_exec_error(kubectl: Kubectl) -> None:
    with pytest.raises(ExecError) as info:
        await kubectl.pod("web-0", "demo").exec(["no-such-program"])
    assert "did not run" in str(info.value)
    assert info.value.status.get("status") == "Failure"


async def test_exec_timeout_is_a_typed_timeout(kubectl: Kubectl) -> None:
    with pytest.raises(ExecTimeout) as info:
        await kubectl.pod("web-0", "demo").exec(["sleep", "60"], timeout=0.3)
    assert isinstance(info.value, TimeoutError)


async def test_exec_refuses_bad_requests_before_opening_a_websocket(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    pod = kubectl.pod("web-0", "demo")
    with pytest.raises(QueryError, match="list of arguments"):
        await pod.exec("echo hi")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="non-empty"):
        await pod.exec([])
    with pytest.raises(QueryError, match="container 'nope' is not in pod 'web-0'; it has: web"):
        await pod.exec(["true"], container="nope")
    assert not hasattr(kubectl.deployment("web", "demo"), "exec")  # a pod-only verb
    with pytest.raises(NotFound, match="ghost"):
        await kubectl.pod("ghost", "demo").exec(["true"])
    assert api.count("/exec") == 0


async def rotating_cluster(lab: EKSLab, tmp_path: Path, clusters: Clusters, name: str) -> tuple[Kubectl, Path]:
    """A cluster whose token comes from a file, so the test can rotate it."""
    await lab.create_cluster(name)
    token_file = tmp_path / "token"
    token_file.write_text(f"{name}-token-1")
    lab.add_static_token(name, f"{name}-token-1")
    text = lab.kubeconfig(name, static_token="placeholder").replace(
        "token: placeholder", f"tokenFile: {token_file}"
    )
    return await clusters.register_by_string(text, cluster_id=name), token_file


def rotate(lab: EKSLab, name: str, token_file: Path, n: int) -> None:
    lab.revoke_tokens(name)
    lab.add_static_token(name, f"{name}-token-{n}")
    token_file.write_text(f"{name}-token-{n}")


async def test_a_401_on_the_exec_upgrade_refreshes_once_and_retries_once(lab: EKSLab, tmp_path: Path) -> None:
    async with Clusters() as clusters:
        k, token_file = await rotating_cluster(lab, tmp_path, clusters, "exec401")
        provider = clusters.get("exec401").token_provider
        assert provider is not None
        rotate(lab, "exec401", token_file, 2)
        before = lab.stats("exec401").unauthorized
        # the upgrade alone, as exec() sends it after reading the pod
        target = Target(kind="Pod", namespace="demo", name="web-0")
        socket = await ws.connect(
            k.api_client,
            "/api/v1/namespaces/demo/pods/web-0/exec",
            query=[("command", "echo"), ("command", "upgraded"), ("container", "web"), ("stdout", "true")],
            protocols=podexec.PROTOCOLS,
            target=target,
        )
        async with podexec.ExecSession(socket, target, stdin=False) as proc:
            assert await proc.wait() == 0
            assert proc.drain(podexec.STDOUT) == b"upgraded\n"
        assert lab.stats("exec401").unauthorized - before == 1  # one refused upgrade
        assert provider.stats.fetches == 2  # one refresh
        assert provider.stats.unauthorized_recoveries == 1
        # and through the fluent API: the pod read refreshes, the upgrade carries the new token
        rotate(lab, "exec401", token_file, 3)
        assert (await k.pod("web-0", "demo").exec(["echo", "ok"])).stdout == b"ok\n"
        assert provider.stats.fetches == 3


async def test_an_upgrade_refused_twice_is_unauthorized_without_a_token_in_the_error(
    lab: EKSLab, tmp_path: Path
) -> None:
    async with Clusters() as clusters:
        k, _token_file = await rotating_cluster(lab, tmp_path, clusters, "exec401b")
        lab.revoke_tokens("exec401b")  # and the file still holds the revoked token
        with pytest.raises(Unauthorized) as info:
            await ws.connect(
                k.api_client,
                "/api/v1/namespaces/demo/pods/web-0/exec",
                query=[("command", "true"), ("container", "web")],
                protocols=podexec.PROTOCOLS,
                target=Target(kind="Pod", namespace="demo", name="web-0"),
            )
        assert "exec401b-token" not in str(info.value) + repr(info.value)


async def test_concurrent_execs_share_the_client(kubectl: Kubectl, cluster: LabCluster) -> None:
    results = await asyncio.gather(
        *(kubectl.pod("web-0", "demo").exec(["sh", "-c", f"echo {i}; exit {i % 3}"]) for i in range(20))
    )
    assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(20)]
    assert [r.exit_code for r in results] == [i % 3 for i in range(20)]


async def test_unregistering_the_cluster_ends_a_running_exec(lab: EKSLab) -> None:
    await lab.create_cluster("execgone")
    async with Clusters() as clusters:
        k = await clusters.register_by_string(lab.kubeconfig("execgone", static_token=True))
        cluster_id = next(iter(clusters))
        async with k.pod("web-0", "demo").exec_stream(["sleep", "3600"]) as proc:
            waiting = asyncio.ensure_future(proc.wait())
            await asyncio.sleep(0.1)
            assert not waiting.done()
            await clusters.unregister(cluster_id)
            with pytest.raises(ExecError, match="ended before the command's exit status"):
                await asyncio.wait_for(waiting, 10)
        with pytest.raises(KomError, match="closed"):
            await k.pod("web-0", "demo").exec(["true"])


@pytest.mark.parametrize(("name", "namespace"), [("..", "demo"), ("web-0/exec", "demo"), ("%2e%2e", "demo"), ("web-0", "../kube-system")])
async def test_hostile_pod_names_never_reach_a_url(kubectl: Kubectl, api: CountingApiClient, name: str, namespace: str) -> None:
    before = len(api.requests)
    with pytest.raises(InvalidName):
        await kubectl.pod(name, namespace).exec(["true"])
    with pytest.raises(InvalidName):
        async with kubectl.pod(name, namespace).port_forward(80):
            pass
    with pytest.raises(InvalidName):
        await kubectl.pod(name, namespace).logs()
    assert len(api.requests) == before

"""A hostile API server floods every read (issue 21 item 4): each stops at the cluster's
``Limits`` with a typed ``ResponseTooLarge`` (or a short quote of a refusal) and the server
gets to send only a little more than the limit, not its whole flood."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from hostile_apiserver import HostileAPIServer, MiB

from kom_async import Clusters, Forbidden, Kubectl, Limits, ResponseTooLarge
from kom_async.config.limits import TRUSTED_LIMITS, UNTRUSTED_LIMITS

SMALL = Limits(max_body=2 * MiB, max_log=2 * MiB, max_exec_output=2 * MiB, max_watch_line=1 * MiB)
FLOOD = 64 * MiB  # each flood: far past every limit above


@pytest_asyncio.fixture
async def evil() -> AsyncIterator[HostileAPIServer]:
    async with HostileAPIServer.running() as server:
        server.size = FLOOD
        yield server


async def registered(clusters: Clusters, evil: HostileAPIServer, **options: object) -> Kubectl:
    return await clusters.register_by_string(evil.kubeconfig, trust="untrusted", **options)  # type: ignore[arg-type]


def sent_little(evil: HostileAPIServer, flood: str, limit: int) -> None:
    """The reader stopped near ``limit``: the server got out far less than its flood."""
    assert 0 < evil.sent[flood] < limit + 16 * MiB < FLOOD, evil.sent


def test_the_defaults_fit_a_real_cluster_and_untrusted_ones_are_tighter() -> None:
    assert TRUSTED_LIMITS.max_body >= 300 * MiB  # a 10,000-pod list is ~100-300 MB of JSON
    assert UNTRUSTED_LIMITS.max_body == 32 * MiB
    assert TRUSTED_LIMITS.max_error_quote == UNTRUSTED_LIMITS.max_error_quote == 4096
    for name in ("max_body", "max_log", "max_exec_output", "max_watch_line"):
        assert getattr(UNTRUSTED_LIMITS, name) < getattr(TRUSTED_LIMITS, name)
    with pytest.raises(ValueError, match="max_body"):
        Limits(max_body=0)


async def test_a_flooded_discovery_document_stops_at_max_body(evil: HostileAPIServer) -> None:
    evil.flood.add("discovery")
    async with Clusters() as clusters:
        kubectl = await registered(clusters, evil, limits=SMALL)
        with pytest.raises(ResponseTooLarge, match=r"max_body.*raise the limit") as info:
            await kubectl.api_resources()
    assert info.value.limit == "max_body" and info.value.size == SMALL.max_body
    sent_little(evil, "discovery", SMALL.max_body)


async def test_an_untrusted_cluster_gets_the_untrusted_limits_by_default(evil: HostileAPIServer) -> None:
    evil.flood.add("list")
    async with Clusters() as clusters:
        kubectl = await registered(clusters, evil)
        assert kubectl.api_client.limits == UNTRUSTED_LIMITS
        with pytest.raises(ResponseTooLarge, match="max_body"):
            await kubectl.resource("pods").namespace("default").list()
    sent_little(evil, "list", UNTRUSTED_LIMITS.max_body)


async def test_limits_on_the_registry_apply_to_every_cluster(evil: HostileAPIServer) -> None:
    evil.flood.add("discovery")
    async with Clusters(limits=SMALL) as clusters:
        kubectl = await clusters.register_by_string(evil.kubeconfig)
        assert kubectl.api_client.limits == SMALL
        # verify=True reads /api through the preloading path of the generated API client
        with pytest.raises(ResponseTooLarge, match="max_body"):
            await clusters.register_by_string(evil.kubeconfig, cluster_id="again", verify=True)
    sent_little(evil, "discovery", SMALL.max_body)


async def test_a_refusal_with_a_huge_message_is_quoted_in_4_kib(evil: HostileAPIServer) -> None:
    evil.flood.add("error")
    async with Clusters() as clusters:
        kubectl = await registered(clusters, evil)
        with pytest.raises(Forbidden) as info:
            await kubectl.resource("configmaps").namespace("default").name("big").get()
    message = str(info.value)
    assert len(message) < 4096 + 200, len(message)
    assert "bytes more)" in message and "denied. denied." in message
    assert evil.sent["error"] < 16 * MiB


async def test_a_flooded_log_is_refused_at_max_log_and_its_tail_held_in_bounded_memory(
    evil: HostileAPIServer,
) -> None:
    evil.flood.add("log")
    async with Clusters() as clusters:
        kubectl = await registered(clusters, evil, limits=SMALL)
        logs = kubectl.pod("p", "default").logs()
        with pytest.raises(ResponseTooLarge, match=r"max_log.*tail_lines"):
            await logs
        sent_little(evil, "log", SMALL.max_log)
        evil.sent.clear()
        with pytest.raises(ResponseTooLarge, match="max_log"):
            await kubectl.pod("p", "default").logs().tail(64 * 1024)
        sent_little(evil, "log", SMALL.max_log)
        evil.flood.clear()  # a short log: its tail comes back, cut at 64 KiB
        text, cut = await kubectl.pod("p", "default").logs().tail(64 * 1024)
        assert cut and len(text) == 64 * 1024 and text.endswith("x\n")


async def test_an_endless_watch_line_is_refused_at_max_watch_line(evil: HostileAPIServer) -> None:
    evil.flood.add("watch")
    async with Clusters() as clusters:
        kubectl = await registered(clusters, evil, limits=SMALL)
        with pytest.raises(ResponseTooLarge, match="max_watch_line"):
            async with kubectl.resource("pods").namespace("default").watch() as events:
                async for _event in events:
                    pass
    sent_little(evil, "watch", SMALL.max_watch_line)


async def test_a_big_watch_event_within_max_watch_line_is_read(evil: HostileAPIServer) -> None:
    """The limit is ours, not aiohttp's (whose readline stops at 4 MiB): a 6 MiB event passes."""
    evil.flood.add("big-event")
    evil.size = 6 * MiB
    async with Clusters() as clusters:
        kubectl = await registered(clusters, evil, limits=Limits())
        async with kubectl.resource("pods").namespace("default").watch(send_initial=False) as events:
            kind, obj = await anext(events)
    assert (kind, obj["metadata"]["name"], len(obj["x"])) == ("ADDED", "big", 6 * MiB)


async def test_exec_output_stops_at_max_output(evil: HostileAPIServer) -> None:
    evil.flood.add("exec")
    async with Clusters() as clusters:
        kubectl = await registered(clusters, evil, limits=SMALL)
        pod = kubectl.pod("p", "default")
        with pytest.raises(ResponseTooLarge, match=r"max_output.*exec\(max_output=") as info:
            await pod.exec(["cat", "/dev/zero"])
        assert info.value.size == SMALL.max_exec_output  # the cluster's limit is the default
        sent_little(evil, "exec", SMALL.max_exec_output)
        evil.sent.clear()
        with pytest.raises(ResponseTooLarge, match="max_output"):
            await pod.exec(["cat", "/dev/zero"], max_output=1 * MiB)
        sent_little(evil, "exec", 1 * MiB)
        evil.flood.clear()
        result = await pod.exec(["true"], max_output=16)
        assert result.stdout == b"done\n" and result.ok

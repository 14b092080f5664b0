"""Names are names: '..', '.', 'a/b', '%2e%2e' and '' never become a URL.

Before this rule, ``resource("configmaps").namespace("demo").name("..").delete()`` deleted the
namespace itself (the URL library folds ``/configmaps/..`` into ``/namespaces/demo``). Each test
plays that attacker against the lab over HTTPS, counts the requests it received, and checks that
the namespace and its objects are still there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kubectl_helpers import CountingApiClient

from kom_async.errors import InvalidName, KomError, QueryError
from kom_async.kubectl import Kubectl, Query
from kom_async.kubectl.discovery import ResourceInfo, _parse_aggregated, _parse_resource_list
from kom_async.kubectl.names import check_name, check_namespace, escape_field_value

on_lab = pytest.mark.asyncio(loop_scope="module")

BAD_NAMES = ["..", ".", "a/b", "%2e%2e", "", "../../namespaces/demo", "a\nb", "x" * 254]
BAD_NAMESPACES = [*BAD_NAMES, "Demo", "-demo", "demo-", "de.mo", "x" * 64, " ", "de mo"]

Act = Callable[[Query[Any]], Awaitable[Any]]
ACTS: dict[str, Act] = {
    "get": lambda q: q.get(),
    "delete": lambda q: q.delete(),
    "patch": lambda q: q.patch({"data": {"k": "v"}}),
    "update": lambda q: q.update({"metadata": {}, "data": {}}),
    "create": lambda q: q.create({"data": {}}),
    "list": lambda q: q.list(),
}


async def _snapshot(kubectl: Kubectl) -> tuple[list[str], list[str]]:
    namespaces = [n["metadata"]["name"] for n in await kubectl.resource("namespaces").list()]
    maps = [c["metadata"]["name"] for c in await kubectl.resource("configmaps").namespace("demo").list()]
    return namespaces, maps


@on_lab
@pytest.mark.parametrize("bad", BAD_NAMES)
async def test_a_bad_object_name_is_refused_before_any_request(
    kubectl: Kubectl, api: CountingApiClient, bad: str
) -> None:
    before = await _snapshot(kubectl)  # also warms discovery: any later request is the attack's
    sent = len(api.requests)
    configmaps = kubectl.resource("configmaps").namespace("demo")
    with pytest.raises(InvalidName) as info:
        configmaps.name(bad)
    assert isinstance(info.value, ValueError) and isinstance(info.value, KomError)
    assert isinstance(info.value, QueryError)  # what name() raised before, still caught the same way
    assert "name" in str(info.value)
    # the same name arriving through an object body (update/create) is refused too
    for verb in (configmaps.update, configmaps.create):
        with pytest.raises((InvalidName, QueryError) if bad == "" else InvalidName):
            await verb({"metadata": {"name": bad}, "data": {}})
    assert api.requests[sent:] == []
    assert await _snapshot(kubectl) == before
    assert "demo" in before[0]


@on_lab
@pytest.mark.parametrize("bad", BAD_NAMESPACES)
async def test_a_bad_namespace_is_refused_before_any_request(
    kubectl: Kubectl, api: CountingApiClient, bad: str
) -> None:
    before = await _snapshot(kubectl)
    sent = len(api.requests)
    for verb, act in ACTS.items():
        with pytest.raises(InvalidName, match="namespace"):
            query = kubectl.resource("configmaps").namespace(bad)
            await act(query.name("web-config") if verb not in ("list", "create") else query)
    assert api.requests[sent:] == []
    assert await _snapshot(kubectl) == before


@on_lab
async def test_a_bad_namespace_inside_an_object_is_refused_before_any_request(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    before = await _snapshot(kubectl)
    sent = len(api.requests)
    for bad in ("..", "a/b", "Demo"):
        body = {"metadata": {"name": "x", "namespace": bad}, "data": {}}
        with pytest.raises(InvalidName, match="namespace"):
            await kubectl.resource("configmaps").create(body)
    assert api.requests[sent:] == []
    assert await _snapshot(kubectl) == before


@on_lab
async def test_the_daily_helpers_refuse_bad_names_too(kubectl: Kubectl, api: CountingApiClient) -> None:
    sent = len(api.requests)
    for make in (
        lambda: kubectl.pod(".."),
        lambda: kubectl.deployment("a/b", "demo"),
        lambda: kubectl.node("."),
        lambda: kubectl.pod("web", ".."),
    ):
        with pytest.raises(InvalidName):
            make()
    assert api.requests[sent:] == []


@on_lab
async def test_apply_refuses_a_bad_name_in_any_document_before_applying_the_first(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    before = await _snapshot(kubectl)
    sent = len(api.requests)
    for bad_doc in (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '..', namespace: demo}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: '..'}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 'a/b'}\n",
    ):
        text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first, namespace: demo}\n---\n" + bad_doc
        with pytest.raises(InvalidName, match="document 2"):
            await kubectl.apply(text)
    with pytest.raises(InvalidName, match="namespace"):
        await kubectl.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n", namespace="..")
    assert api.requests[sent:] == []
    assert await _snapshot(kubectl) == before


@on_lab
async def test_good_names_still_work_and_field_selectors_escape_them(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    configmaps = kubectl.resource("configmaps").namespace("demo")
    await configmaps.create({"metadata": {"name": "ok.name-1"}, "data": {}})
    assert (await configmaps.name("ok.name-1").get())["metadata"]["name"] == "ok.name-1"
    async with configmaps.name("ok.name-1").watch(timeout_seconds=5) as events:
        async for kind, obj in events:
            assert (kind, obj["metadata"]["name"]) == ("ADDED", "ok.name-1")
            break
    await configmaps.name("ok.name-1").delete()
    assert escape_field_value("a,b=c\\") == "a\\,b\\=c\\\\"


def test_the_rules_are_the_kubernetes_api_rules() -> None:
    for good in ("web", "a.b", "system:node:ip-10-0-0-1", "UPPER", "a b", "x" * 253, "...", ".a"):
        assert check_name(good) == good
    for good_ns in ("default", "team-a", "a", "0", "x" * 63):
        assert check_namespace(good_ns) == good_ns
    for bad in BAD_NAMES:
        with pytest.raises(InvalidName):
            check_name(bad)
    for bad in BAD_NAMESPACES:
        with pytest.raises(InvalidName):
            check_namespace(bad)
    with pytest.raises(InvalidName, match="must be a string"):
        check_name(None)
    with pytest.raises(InvalidName, match=r"'\.\.' is not a name but a path step.*not '\.' or '\.\.'"):
        check_name("..")


def test_every_url_is_built_through_the_same_check() -> None:
    """The last gate: code that builds a path itself (the MCP list tool does) gets the check too."""
    pods = ResourceInfo(group="", version="v1", kind="Pod", plural="pods", namespaced=True)
    assert pods.path("demo", "web") == "/api/v1/namespaces/demo/pods/web"
    for namespace, name in (("demo", ".."), ("..", "web"), ("demo", "a/b"), ("demo", "")):
        with pytest.raises(InvalidName):
            pods.path(namespace, name)


def test_discovery_drops_resources_a_hostile_server_names_like_paths() -> None:
    listing = {
        "resources": [
            {"name": "pods", "kind": "Pod", "namespaced": True},
            {"name": "..", "kind": "Evil", "namespaced": True},
            {"name": ".", "kind": "Evil2", "namespaced": True},
            {"name": "a%2f", "kind": "Evil3", "namespaced": True},
            {"name": "pods/log", "kind": "Pod", "namespaced": True},
        ]
    }
    assert [r.plural for r in _parse_resource_list("", "v1", True, listing)] == ["pods"]
    aggregated = {
        "items": [
            {"metadata": {"name": "../x"}, "versions": [{"version": "v1", "resources": [
                {"resource": "things", "responseKind": {"kind": "Thing"}}]}]},
            {"metadata": {"name": "ok.io"}, "versions": [{"version": "v1/..", "resources": [
                {"resource": "things", "responseKind": {"kind": "Thing"}}]}]},
            {"metadata": {"name": "ok.io"}, "versions": [{"version": "v1", "resources": [
                {"resource": "..", "responseKind": {"kind": "Evil"}},
                {"resource": "things", "responseKind": {"kind": "Thing"}}]}]},
        ]
    }
    assert [(r.group, r.plural) for r in _parse_aggregated(aggregated)] == [("ok.io", "things")]

"""CRUD through the chain on pods, configmaps and deployments, and the errors users see."""

from __future__ import annotations

import asyncio

import pytest
from kubectl_helpers import CountingApiClient
from kubernetes_asyncio.client import V1ConfigMap, V1ObjectMeta, V1Pod

from kom_async.errors import AlreadyExists, Conflict, Forbidden, Invalid, NotFound, QueryError
from kom_async.kubectl import Kubectl
from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")


def pod(name: str, **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }


def deployment(name: str, replicas: int = 1) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
        },
    }


async def test_pods_create_get_list_patch_delete(kubectl: Kubectl) -> None:
    pods = kubectl.resource("po").namespace("demo")
    created = await pods.create(pod("job-1", app="job"))
    assert created["metadata"]["namespace"] == "demo" and created["metadata"]["uid"]
    got = await pods.name("job-1").get()
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert (got["apiVersion"], got["kind"]) == ("v1", "Pod")

    listed = await pods.labels("app=job").list()
    assert [p["metadata"]["name"] for p in listed] == ["job-1"]
    assert listed[0]["kind"] == "Pod"  # list items get apiVersion/kind like kubectl shows them

    patched = await pods.name("job-1").patch({"metadata": {"labels": {"tier": "batch"}}})
    assert patched["metadata"]["labels"] == {"app": "job", "tier": "batch"}
    await pods.name("job-1").delete(grace_period_seconds=0)
    with pytest.raises(NotFound):
        await pods.name("job-1").get()


async def test_configmaps_create_update_and_every_patch_type(kubectl: Kubectl) -> None:
    cms = kubectl.resource("ConfigMap").namespace("demo")
    await cms.create({"metadata": {"name": "settings"}, "data": {"a": "1"}})
    current = await cms.name("settings").get()
    current["data"]["b"] = "2"
    updated = await cms.update(current)
    assert updated["data"] == {"a": "1", "b": "2"}

    merged = await cms.name("settings").patch({"data": {"a": None, "c": "3"}}, "merge")
    assert merged["data"] == {"b": "2", "c": "3"}
    strategic = await cms.name("settings").patch({"data": {"d": "4"}}, "strategic")
    assert strategic["data"]["d"] == "4"
    jsonp = await cms.name("settings").patch([{"op": "replace", "path": "/data/b", "value": "20"}], "json")
    assert jsonp["data"]["b"] == "20"
    applied = await cms.name("settings").patch({"data": {"e": "5"}}, "apply", field_manager="tests")
    assert applied["data"]["e"] == "5"
    assert await cms.count() == 2  # settings + the seeded web-config


async def test_deployments_by_short_name_with_scale_and_restart(kubectl: Kubectl) -> None:
    deploys = kubectl.resource("deploy").namespace("demo")
    await deploys.create(deployment("api", replicas=1))
    scale = await deploys.name("api").scale(3)
    assert scale["spec"]["replicas"] == 3
    assert (await deploys.name("api").get())["spec"]["replicas"] == 3

    restarted = await kubectl.deployment("api", "demo").restart()
    stamp = restarted["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert stamp.endswith("Z")
    await deploys.name("api").delete(propagation_policy="Foreground")
    assert [d["metadata"]["name"] for d in await deploys.list()] == ["web"]


async def test_a_model_class_query_returns_model_instances(kubectl: Kubectl) -> None:
    cms = kubectl.resource(V1ConfigMap).namespace("demo")
    created = await cms.create(V1ConfigMap(metadata=V1ObjectMeta(name="typed"), data={"k": "v"}))
    assert isinstance(created, V1ConfigMap) and created.data == {"k": "v"}
    listed = await cms.list()
    assert all(isinstance(c, V1ConfigMap) for c in listed)
    assert {c.metadata.name for c in listed} == {"typed", "web-config"}
    pods = await kubectl.resource(V1Pod).namespace("demo").labels({"app": "web"}).list()
    assert sorted(p.metadata.name for p in pods) == ["web-0", "web-1"]


async def test_namespaced_kinds_default_to_the_default_namespace(kubectl: Kubectl) -> None:
    created = await kubectl.resource("cm").create({"metadata": {"name": "here"}})
    assert created["metadata"]["namespace"] == "default"
    assert await kubectl.resource("cm").name("here").get()
    assert await kubectl.resource("pods").all_namespaces().count() == 4
    assert len(await kubectl.resource("nodes").list()) == 2


async def test_cordon_and_uncordon_a_node(kubectl: Kubectl) -> None:
    [first, _] = await kubectl.resource("no").list()
    node = kubectl.node(first["metadata"]["name"])
    assert (await node.cordon())["spec"]["unschedulable"] is True
    assert not (await node.uncordon())["spec"].get("unschedulable")


async def test_pod_logs_with_container_tail_and_since(
    lab: EKSLab, cluster: LabCluster, kubectl: Kubectl
) -> None:
    lab.set_pod_log(cluster.name, "demo", "web-0", ["one", "two", "three"])
    assert await kubectl.pod("web-0", "demo").logs() == "one\ntwo\nthree\n"
    assert await kubectl.pod("web-0", "demo").logs(container="web", tail_lines=1) == "three\n"
    assert await kubectl.pod("web-0", "demo").logs(since_seconds=3600) == "one\ntwo\nthree\n"


async def test_errors_are_typed_and_say_what_they_were_about(
    lab: EKSLab, cluster: LabCluster, kubectl: Kubectl, api: CountingApiClient
) -> None:
    with pytest.raises(NotFound) as nf:
        await kubectl.pod("ghost", "demo").get()
    assert (nf.value.kind, nf.value.namespace, nf.value.name) == ("Pod", "demo", "ghost")
    assert nf.value.status_code == 404 and "ghost" in nf.value.message

    cms = kubectl.resource("configmaps").namespace("demo")
    with pytest.raises(AlreadyExists) as ae:
        await cms.create({"metadata": {"name": "web-config"}})
    assert (ae.value.kind, ae.value.namespace, ae.value.name) == ("ConfigMap", "demo", "web-config")

    stale = await cms.name("web-config").get()
    await cms.name("web-config").patch({"data": {"bump": "1"}})
    with pytest.raises(Conflict) as conflict:
        await cms.update(stale)
    assert type(conflict.value) is Conflict and conflict.value.name == "web-config"

    with pytest.raises(Invalid) as invalid:
        await kubectl.resource("pods").namespace("demo").create({"metadata": {"name": "bad"}, "spec": {}})
    assert invalid.value.status_code == 422 and invalid.value.kind == "Pod"

    lab.add_static_token(cluster.name, "viewer-token", "viewer", groups=["lab:view"])
    api.configuration.api_key = {"BearerToken": "Bearer viewer-token"}
    with pytest.raises(Forbidden) as forbidden:
        await kubectl.resource("cm").namespace("demo").create({"metadata": {"name": "nope"}})
    assert (forbidden.value.kind, forbidden.value.namespace, forbidden.value.name) == (
        "ConfigMap",
        "demo",
        "nope",
    )
    assert await kubectl.resource("cm").namespace("demo").name("web-config").get()  # reads still work


async def test_a_query_that_is_not_ready_sends_no_request(kubectl: Kubectl, api: CountingApiClient) -> None:
    await kubectl.api_resources()  # discovery is cached from here on
    before = len(api.requests)
    with pytest.raises(QueryError, match=r"add \.name"):
        await kubectl.resource("pods").namespace("demo").get()
    with pytest.raises(QueryError, match="needs one namespace"):
        await kubectl.resource("pods").all_namespaces().create(pod("x"))
    with pytest.raises(QueryError, match="is a Pod but the query selects ConfigMap"):
        await kubectl.resource("cm").create(pod("x"))
    with pytest.raises(QueryError, match=r"create\(\) needs metadata\.name"):
        await kubectl.resource("cm").create({"data": {}})
    with pytest.raises(QueryError, match="works on Pod, not Deployment"):
        await kubectl.resource("deploy").namespace("demo").name("web").logs()
    with pytest.raises(QueryError, match="no scale subresource"):
        await kubectl.pod("web-0", "demo").scale(2)
    assert len(api.requests) == before


async def test_an_unknown_kind_reloads_discovery_once_then_says_what_to_use(
    kubectl: Kubectl, api: CountingApiClient
) -> None:
    await kubectl.api_resources()
    kubectl.discovery._loaded_at -= 10  # discovery is older than the reload-on-miss interval
    before = api.count("/api")
    with pytest.raises(QueryError, match=r"no resource named 'gadgets'.*gvk"):
        await kubectl.resource("gadgets").list()
    reloaded = api.count("/api") - before
    assert reloaded > 0 and not any("gadgets" in url for _, url in api.requests)
    with pytest.raises(QueryError, match="no resource named"):  # just reloaded: no new round
        await kubectl.resource("gadgets").list()
    assert api.count("/api") - before == reloaded


async def test_a_half_built_chain_is_reused_by_many_tasks(kubectl: Kubectl) -> None:
    cms = kubectl.resource("cm").namespace("demo").labels({"batch": "b1"})
    await asyncio.gather(
        *(cms.create({"metadata": {"name": f"cm-{i}", "labels": {"batch": "b1"}}}) for i in range(20))
    )
    names = await asyncio.gather(*(cms.name(f"cm-{i}").get() for i in range(20)))
    assert [n["metadata"]["name"] for n in names] == [f"cm-{i}" for i in range(20)]
    assert await cms.count() == 20
    await asyncio.gather(*(cms.name(f"cm-{i}").delete() for i in range(0, 20, 2)))
    assert await cms.count() == 10

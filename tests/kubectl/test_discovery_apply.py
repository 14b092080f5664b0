"""Discovery-driven names (CRDs through gvk, short names, TTL) and multi-document apply."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubectl_helpers import CountingApiClient

from kom_async.errors import QueryError
from kom_async.kubectl import Kubectl
from kom_async.lab import EKSLab, LabCluster

pytestmark = pytest.mark.asyncio(loop_scope="module")

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.lab.example.com"},
    "spec": {
        "group": "lab.example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}

THREE_OBJECTS = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  mode: "{mode}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels: {{app: app}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
    spec:
      containers:
      - name: app
        image: "nginx:{tag}"
---
apiVersion: v1
kind: Service
metadata:
  name: app
  namespace: demo
spec:
  selector: {{app: app}}
  ports:
  - port: 80
"""


def three_objects(mode: str = "a", replicas: int = 1, tag: str = "1.27") -> str:
    return THREE_OBJECTS.format(mode=mode, replicas=replicas, tag=tag)


async def test_a_crd_created_in_the_lab_is_reachable_through_gvk(kubectl: Kubectl) -> None:
    with pytest.raises(QueryError, match="does not serve kind 'Widget'"):
        await kubectl.gvk("lab.example.com", "v1", "Widget").namespace("demo").list()
    await kubectl.resource("crd").create(WIDGET_CRD)  # creating a CRD refreshes discovery

    widgets = kubectl.gvk("lab.example.com", "v1", "Widget").namespace("demo")
    created = await widgets.create({"metadata": {"name": "w1"}, "spec": {"size": 3}})
    assert (created["apiVersion"], created["kind"]) == ("lab.example.com/v1", "Widget")
    assert (await widgets.name("w1").get())["spec"] == {"size": 3}
    patched = (
        await kubectl.crd("lab.example.com", "v1", "Widget")
        .namespace("demo")
        .name("w1")
        .patch({"spec": {"size": 4}})
    )
    assert patched["spec"]["size"] == 4
    # the CRD's names work too: plural, short name and plural.group
    for name in ("widgets", "wg", "Widget", "widgets.lab.example.com", "widgets.v1.lab.example.com"):
        assert names(await kubectl.resource(name).namespace("demo").list()) == ["w1"], name

    async with widgets.watch(send_initial=False) as events:
        await widgets.name("w1").delete()
        kind, obj = await asyncio.wait_for(anext(events), 5)
        assert (kind, obj["metadata"]["name"]) == ("DELETED", "w1")


async def test_discovery_is_cached_for_its_ttl_and_can_be_invalidated(api: CountingApiClient) -> None:
    kubectl = Kubectl(api, discovery_ttl=0.3)
    for _ in range(5):
        await kubectl.resource("pods").namespace("demo").list()
    assert kubectl.discovery.loads == 1
    await asyncio.sleep(0.35)
    await kubectl.resource("pods").namespace("demo").list()
    assert kubectl.discovery.loads == 2
    kubectl.invalidate_discovery()
    await kubectl.resource("pods").namespace("demo").list()
    assert kubectl.discovery.loads == 3


async def test_discovery_takes_two_requests_when_aggregated_and_reads_the_same_from_a_legacy_server(
    api: CountingApiClient, lab: EKSLab, cluster: LabCluster
) -> None:
    await Kubectl(api).resource("crd").create(WIDGET_CRD)  # a CRD's group must be in both documents too
    aggregated = Kubectl(api)
    before = len(api.requests)
    found = await aggregated.api_resources()
    assert [url.rsplit("/", 1)[-1] for _, url in api.requests[before:]] == ["api", "apis"]
    lab.legacy_discovery(cluster.name)
    legacy = Kubectl(api)
    before = len(api.requests)
    assert await legacy.api_resources() == found  # same names, scopes, verbs, subresources, order
    assert len(api.requests) - before >= 5  # /api, /apis, then one per group version
    assert {"Widget", "Pod", "Deployment"} <= {r.kind for r in found}
    assert next(r for r in found if r.kind == "Widget").short_names == ("wg",)


async def test_names_resolve_like_kubectl(kubectl: Kubectl) -> None:
    for name in ("po", "pod", "pods", "Pod", "deploy", "deployment", "Deployment", "deployments.apps", "cm"):
        assert await kubectl.resource(name).all_namespaces().count() > 0, name
    kinds = {r.kind for r in await kubectl.api_resources()}
    assert {"Pod", "ConfigMap", "Deployment", "Node", "CustomResourceDefinition"} <= kinds


async def test_apply_of_three_objects_twice_updates_and_never_duplicates(kubectl: Kubectl) -> None:
    first = await kubectl.apply(three_objects())
    assert [(o["kind"], o["metadata"]["namespace"]) for o in first] == [
        ("ConfigMap", "default"),
        ("Deployment", "default"),
        ("Service", "demo"),
    ]
    second = await kubectl.apply(three_objects(mode="b", replicas=3, tag="1.28"))
    assert [o["metadata"]["uid"] for o in second] == [o["metadata"]["uid"] for o in first]
    assert second[0]["data"] == {"mode": "b"}
    assert second[1]["spec"]["replicas"] == 3
    assert second[1]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"

    assert names(await kubectl.resource("cm").list()) == ["app-config"]
    assert names(await kubectl.resource("deploy").list()) == ["app"]
    assert sorted(names(await kubectl.resource("svc").namespace("demo").list())) == ["app", "web"]
    again = await kubectl.apply(three_objects(mode="b", replicas=3, tag="1.28"))
    assert [o["metadata"]["uid"] for o in again] == [o["metadata"]["uid"] for o in first]


async def test_client_side_apply_creates_then_patches(kubectl: Kubectl) -> None:
    first = await kubectl.apply(three_objects(), server_side=False, namespace="demo")
    assert {o["metadata"]["namespace"] for o in first} == {"demo"}
    second = await kubectl.apply(three_objects(mode="c"), server_side=False, namespace="demo")
    assert second[0]["data"] == {"mode": "c"}
    assert [o["metadata"]["uid"] for o in second] == [o["metadata"]["uid"] for o in first]


async def test_apply_installs_a_crd_and_its_objects_from_one_yaml(kubectl: Kubectl) -> None:
    import yaml

    text = yaml.safe_dump_all(
        [
            WIDGET_CRD,
            {
                "apiVersion": "lab.example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w2"},
                "spec": {"a": 1},
            },
        ]
    )
    crd, widget = await kubectl.apply(text)
    assert crd["kind"] == "CustomResourceDefinition"
    assert (widget["kind"], widget["metadata"]["namespace"]) == ("Widget", "default")


def names(objs: list[Any]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


async def test_yaml_exported_from_the_cluster_applies_cleanly(kubectl: Kubectl) -> None:
    import yaml

    exported = await kubectl.resource("cm").namespace("demo").name("web-config").get()
    await kubectl.resource("cm").namespace("demo").name("web-config").patch({"data": {"moved": "on"}})
    exported["data"] = {"greeting": "bonjour"}  # stale resourceVersion, uid, timestamps and all
    [stored] = await kubectl.apply(yaml.safe_dump(exported))
    assert stored["data"]["greeting"] == "bonjour"
    assert stored["metadata"]["uid"] == exported["metadata"]["uid"]
    exported["data"] = {"greeting": "hallo"}
    [stored] = await kubectl.apply(yaml.safe_dump(exported), server_side=False)
    assert stored["data"]["greeting"] == "hallo"

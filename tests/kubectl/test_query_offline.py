"""The chain itself: immutable steps, clear QueryErrors before any request, typed errors."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubectl_helpers import CountingApiClient
from kubernetes_asyncio.client import CoreV1Event, EventsV1Event, V1Deployment, V1Pod

from kom_async.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Invalid,
    KubernetesError,
    NotFound,
    QueryError,
    Unauthorized,
)
from kom_async.kubectl import Kubectl
from kom_async.kubectl.apply import load_documents
from kom_async.kubectl.discovery import Discovery, ResourceInfo, model_identity
from kom_async.kubectl.selectors import combine, to_selector
from kom_async.transport.rest import Target, error_from_status


def test_each_step_returns_a_new_query_and_leaves_the_old_one_alone(
    offline_kubectl: tuple[Kubectl, CountingApiClient],
) -> None:
    kubectl, _ = offline_kubectl
    base = kubectl.resource("pods").namespace("web")
    a = base.name("a").labels("app=web")
    b = base.name("b").labels({"tier": "db"}).fields("status.phase=Running").limit(5)
    assert base._name is None and base._labels == ()
    assert (a._name, a._labels) == ("a", ("app=web",))
    assert (b._name, b._labels, b._fields, b._limit) == ("b", ("tier=db",), ("status.phase=Running",), 5)
    with pytest.raises(AttributeError):
        base._name = "x"  # type: ignore[misc]
    assert kubectl.resource("po").all_namespaces()._namespace == "*"


def test_labels_accumulate_and_are_anded(offline_kubectl: tuple[Kubectl, CountingApiClient]) -> None:
    kubectl, _ = offline_kubectl
    q = kubectl.resource("pods").labels("app=web, tier!=db").labels({"env": "prod"})
    assert q._selectors() == ("app=web,tier!=db,env=prod", None)
    assert q.name("x")._selectors()[1] == "metadata.name=x"


@pytest.mark.parametrize(
    "act",
    [
        lambda q: q.get(),
        lambda q: q.delete(),
        lambda q: q.patch({"metadata": {"labels": {"a": "b"}}}),
        lambda q: q.logs(),
        lambda q: q.scale(2),
        lambda q: q.restart(),
        lambda q: q.cordon(),
    ],
    ids=["get", "delete", "patch", "logs", "scale", "restart", "cordon"],
)
async def test_acting_on_one_object_without_a_name_fails_before_any_request(
    offline_kubectl: tuple[Kubectl, CountingApiClient], act: object
) -> None:
    kubectl, client = offline_kubectl
    with pytest.raises(QueryError, match=r"add \.name\("):
        await act(kubectl.resource("pods").namespace("default"))  # type: ignore[operator]
    assert client.requests == []


async def test_one_object_across_all_namespaces_is_refused_before_any_request(
    offline_kubectl: tuple[Kubectl, CountingApiClient],
) -> None:
    kubectl, client = offline_kubectl
    with pytest.raises(QueryError, match="pick one namespace"):
        await kubectl.resource("pods").all_namespaces().name("web").get()
    assert client.requests == []


def test_bad_steps_say_what_to_pass(offline_kubectl: tuple[Kubectl, CountingApiClient]) -> None:
    kubectl, _ = offline_kubectl
    with pytest.raises(QueryError, match="needs a kind"):
        kubectl.resource("  ")
    with pytest.raises(QueryError, match="model class"):
        kubectl.resource(42)  # type: ignore[call-overload]
    with pytest.raises(QueryError, match="positive int"):
        kubectl.resource("pods").limit(0)
    with pytest.raises(QueryError, match="empty label selector"):
        kubectl.resource("pods").labels("")
    with pytest.raises(QueryError, match="namespace"):
        kubectl.resource("pods").namespace("")
    with pytest.raises(QueryError, match="version and a kind"):
        kubectl.gvk("apps", "", "Deployment")


async def test_patch_arguments_are_checked_before_any_request(
    offline_kubectl: tuple[Kubectl, CountingApiClient],
) -> None:
    kubectl, client = offline_kubectl
    q = kubectl.resource("pods").name("web")
    with pytest.raises(QueryError, match="patch type"):
        await q.patch({}, "bogus")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="list of operations"):
        await q.patch({"a": 1}, "json")
    with pytest.raises(QueryError, match="force="):
        await q.patch({"a": 1}, "merge", force=True)
    assert client.requests == []


def test_model_class_names_map_to_group_version_kind() -> None:
    assert model_identity(V1Pod) == (None, "v1", "Pod")
    assert model_identity(V1Deployment) == (None, "v1", "Deployment")
    assert model_identity(CoreV1Event) == ("", "v1", "Event")
    assert model_identity(EventsV1Event) == ("events", "v1", "Event")
    with pytest.raises(QueryError):
        model_identity(dict)


def test_resource_paths_quote_names() -> None:
    pods = ResourceInfo(group="", version="v1", kind="Pod", plural="pods", namespaced=True)
    deploy = ResourceInfo(
        group="apps", version="v1", kind="Deployment", plural="deployments", namespaced=True
    )
    nodes = ResourceInfo(group="", version="v1", kind="Node", plural="nodes", namespaced=False)
    assert pods.path("ns", "a b") == "/api/v1/namespaces/ns/pods/a%20b"
    assert pods.path(None) == "/api/v1/pods"
    assert deploy.path("ns") == "/apis/apps/v1/namespaces/ns/deployments"
    assert nodes.path("ignored", "n1") == "/api/v1/nodes/n1"
    assert deploy.api_version == "apps/v1" and pods.api_version == "v1"


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (404, "NotFound", NotFound),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (422, "Invalid", Invalid),
        (403, "Forbidden", Forbidden),
        (401, "Unauthorized", Unauthorized),
        (500, "InternalError", KubernetesError),
    ],
)
def test_status_bodies_become_typed_errors(code: int, reason: str, cls: type) -> None:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": "nope",
        "reason": reason,
        "code": code,
    }
    err = error_from_status(code, json.dumps(status).encode(), Target("Pod", "web", "api"))
    assert type(err) is cls
    assert (err.status_code, err.reason, err.message) == (code, reason, "nope")
    assert (err.kind, err.namespace, err.name) == ("Pod", "web", "api")
    assert "Pod/web/api" in str(err)


def test_non_status_error_bodies_keep_their_text() -> None:
    err = error_from_status(502, b"bad gateway", Target())
    assert type(err) is KubernetesError and err.message == "bad gateway" and err.status_code == 502


def test_selectors() -> None:
    assert to_selector({"app": "web", "tier": "db"}) == "app=web,tier=db"
    assert to_selector(" app=web , tier!=db ") == "app=web,tier!=db"
    assert combine(["a=b", "c=d"]) == "a=b,c=d" and combine([]) is None
    with pytest.raises(ValueError):
        to_selector({"app": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        to_selector(3)  # type: ignore[arg-type]


def test_yaml_documents_are_checked_and_lists_flattened() -> None:
    text = """
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
"""
    assert [d["metadata"]["name"] for d in load_documents(text)] == ["a", "b", "c"]
    with pytest.raises(QueryError, match=r"document 1 \(ConfigMap\) needs metadata.name"):
        load_documents("apiVersion: v1\nkind: ConfigMap\n")
    with pytest.raises(QueryError, match="does not parse"):
        load_documents("a: [")


async def test_a_partial_chain_is_safe_to_share_between_tasks(
    offline_kubectl: tuple[Kubectl, CountingApiClient],
) -> None:
    kubectl, _ = offline_kubectl
    base = kubectl.resource("pods").namespace("web")

    async def narrow(i: int) -> tuple[str | None, tuple[str, ...]]:
        await asyncio.sleep(0)
        q = base.name(f"p{i}").labels(f"i={i}")
        await asyncio.sleep(0)
        return q._name, q._labels

    results = await asyncio.gather(*(narrow(i) for i in range(50)))
    assert results == [(f"p{i}", (f"i={i}",)) for i in range(50)]
    assert base._name is None and base._labels == ()


class FakeRest:
    """Answers discovery requests from a dict of path -> document, recording the paths."""

    def __init__(self, docs: dict[str, object]) -> None:
        self.docs = docs
        self.paths: list[str] = []

    async def json(self, method: str, path: str, **_: object) -> object:
        self.paths.append(path)
        return self.docs[path]


def aggregated(group: str, versions: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    return {
        "metadata": {"name": group},
        "versions": [{"version": v, "resources": res, "freshness": "Current"} for v, res in versions.items()],
    }


AGGREGATED_DOCS = {
    "/api": {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "items": [
            aggregated(
                "",
                {
                    "v1": [
                        {
                            "resource": "pods",
                            "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
                            "scope": "Namespaced",
                            "singularResource": "pod",
                            "shortNames": ["po"],
                            "verbs": ["get", "list", "watch"],
                            "subresources": [{"subresource": "log"}, {"subresource": "status"}],
                        }
                    ]
                },
            )
        ],
    },
    "/apis": {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "items": [
            aggregated(
                "autoscaling",
                {
                    "v2": [
                        {
                            "resource": "horizontalpodautoscalers",
                            "responseKind": {
                                "group": "autoscaling",
                                "version": "v2",
                                "kind": "HorizontalPodAutoscaler",
                            },
                            "scope": "Namespaced",
                            "shortNames": ["hpa"],
                        }
                    ],
                    "v1": [
                        {
                            "resource": "horizontalpodautoscalers",
                            "responseKind": {
                                "group": "autoscaling",
                                "version": "v1",
                                "kind": "HorizontalPodAutoscaler",
                            },
                            "scope": "Namespaced",
                            "shortNames": ["hpa"],
                        }
                    ],
                },
            ),
            aggregated(
                "apps",
                {
                    "v1": [
                        {
                            "resource": "deployments",
                            "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                            "scope": "Namespaced",
                            "subresources": [{"subresource": "scale"}],
                        }
                    ]
                },
            ),
        ],
    },
}


async def test_aggregated_discovery_needs_two_requests_and_keeps_version_preference() -> None:
    rest = FakeRest(AGGREGATED_DOCS)
    discovery = Discovery(rest)  # type: ignore[arg-type]
    pod = await discovery.resolve("po")
    assert (pod.kind, pod.namespaced, pod.subresources) == ("Pod", True, ("log", "status"))
    hpa = await discovery.resolve("hpa")
    assert (hpa.group, hpa.version) == ("autoscaling", "v2")  # the first listed version wins
    v1 = await discovery.resolve_gvk("autoscaling", "v1", "HorizontalPodAutoscaler")
    assert not v1.preferred
    deploy = await discovery.resolve("deploy")  # short name from the fallback table
    assert deploy.subresources == ("scale",)
    assert sorted(rest.paths) == ["/api", "/apis"]


async def test_concurrent_resolutions_share_one_discovery_load() -> None:
    rest = FakeRest(AGGREGATED_DOCS)
    discovery = Discovery(rest)  # type: ignore[arg-type]
    await asyncio.gather(*(discovery.resolve(n) for n in ["pods", "deploy", "hpa"] * 20))
    assert discovery.loads == 1 and len(rest.paths) == 2


def test_a_query_shows_what_it_selects(offline_kubectl: tuple[Kubectl, CountingApiClient]) -> None:
    kubectl, _ = offline_kubectl
    q = kubectl.resource("pods").namespace("web").labels("app=web").labels({"tier": "db"}).limit(3)
    assert repr(q) == "Query(pods, cluster='offline', namespace='web', labels='app=web,tier=db', limit=3)"
    assert repr(kubectl.crd("example.com", "v1", "Widget").name("w")) == (
        "Query(Widget.v1.example.com, cluster='offline', name='w')"
    )


label_part = st.from_regex(r"[a-z0-9]([a-z0-9.\-_/]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.dictionaries(label_part, label_part, min_size=1, max_size=6))
def test_a_label_mapping_becomes_a_selector_that_reads_back_the_same(labels: dict[str, str]) -> None:
    text = to_selector(labels)
    assert dict(part.split("=", 1) for part in text.split(",")) == labels

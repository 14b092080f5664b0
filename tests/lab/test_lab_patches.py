"""Patch fidelity: JSON/merge patch codes, strategic merge keys and directives, server-side apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import KUBECTL, LabAPI, needs_kubectl, pod, run

from kom_async.lab import EKSLab
from kom_async.lab.smp import SmpError, schema_for, strategic_merge

PODS = "/api/v1/namespaces/demo/pods"
DEPLOY = "/apis/apps/v1/namespaces/demo/deployments/web"
SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
POD_SCHEMA = schema_for(("", "pods"))


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(obj["spec"]["containers"])


def test_lists_merge_by_the_keys_of_the_go_types_and_others_are_replaced() -> None:
    base = {
        "metadata": {"finalizers": ["a"]},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "args": ["--x"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "volumeMounts": [{"mountPath": "/data", "name": "data"}],
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "t1"}],
        },
    }
    patch = {
        "metadata": {"finalizers": ["b", "a"]},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "args": ["--y"],
                    "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                    "ports": [{"containerPort": 443}],
                    "volumeMounts": [{"mountPath": "/data", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "cache", "emptyDir": {}}],
            "tolerations": [{"key": "t2"}],
        },
    }
    out = strategic_merge(base, patch, POD_SCHEMA)
    app = out["spec"]["containers"][0]
    assert out["metadata"]["finalizers"] == ["a", "b"]  # a primitive set: union
    assert app["image"] == "app:1" and app["args"] == ["--y"]  # args: atomic
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "20"}, {"name": "C", "value": "3"}]
    assert [p["containerPort"] for p in app["ports"]] == [80, 443]
    assert app["volumeMounts"] == [{"mountPath": "/data", "name": "data", "readOnly": True}]
    assert [v["name"] for v in out["spec"]["volumes"]] == ["data", "cache"]
    assert out["spec"]["tolerations"] == [{"key": "t2"}]  # no patchMergeKey: replaced
    assert base["spec"]["containers"][0]["image"] == "app:1" and "readOnly" not in str(base)  # untouched


def test_patch_directives_replace_delete_retain_and_order() -> None:
    base = {
        "metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y", "z"]},
        "spec": {
            "containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"}],
            "nodeSelector": {"disk": "ssd", "zone": "1"},
        },
    }
    out = strategic_merge(base, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}, POD_SCHEMA)
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "c"]
    out = strategic_merge(
        base, {"spec": {"containers": [{"name": "n", "image": "n"}, {"$patch": "replace"}]}}, POD_SCHEMA
    )
    assert out["spec"]["containers"] == [{"name": "n", "image": "n"}]
    out = strategic_merge(base, {"spec": {"nodeSelector": {"$patch": "replace", "gpu": "yes"}}}, POD_SCHEMA)
    assert out["spec"]["nodeSelector"] == {"gpu": "yes"}
    out = strategic_merge(base, {"metadata": {"labels": {"$patch": "delete"}}}, POD_SCHEMA)
    assert "labels" not in out["metadata"]
    out = strategic_merge(base, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["y"]}}, POD_SCHEMA)
    assert out["metadata"]["finalizers"] == ["x", "z"]
    out = strategic_merge(
        base, {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}}, POD_SCHEMA
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["c", "a", "b"]
    out = strategic_merge(base, {"spec": {"$retainKeys": ["containers"], "hostNetwork": True}}, POD_SCHEMA)
    assert set(out["spec"]) == {"containers"}
    for bad in (
        {"spec": {"containers": [{"image": "no-name"}]}},
        {"spec": {"nodeSelector": {"$patch": "explode"}}},
        {"spec": {"$unknownDirective": 1}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "y"}},
        {"metadata": {"finalizers": [{"not": "primitive"}]}},
        {"spec": {"$setElementOrder/nodeSelector": ["x"]}},
    ):
        with pytest.raises(SmpError):
            strategic_merge(base, bad, POD_SCHEMA)


async def test_strategic_merge_over_http_honours_directives_and_refuses_custom_resources(api: LabAPI) -> None:
    body = pod("two")
    body["spec"]["containers"].append({"name": "side", "image": "envoy"})
    await api.post(PODS, body)
    status, out = await api.patch(f"{PODS}/two", {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}, SMP)
    assert status == 200 and [c["name"] for c in containers(out)] == ["main"]
    status, out = await api.patch(f"{PODS}/two", {"spec": {"containers": [{"image": "x"}]}}, SMP)
    assert (status, out["reason"]) == (400, "BadRequest") and "merge key" in out["message"]
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.lab.example.com"},
        "spec": {
            "group": "lab.example.com",
            "names": {"plural": "widgets", "kind": "Widget"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    assert (await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd))[0] == 201
    widgets = "/apis/lab.example.com/v1/namespaces/demo/widgets"
    assert (await api.post(widgets, {"metadata": {"name": "w"}, "spec": {"size": 1}}))[0] == 201
    status, out = await api.patch(f"{widgets}/w", {"spec": {"size": 2}}, SMP)
    assert (status, out["reason"]) == (415, "UnsupportedMediaType")
    status, out = await api.patch(f"{widgets}/w", {"spec": {"size": 2}}, "application/merge-patch+json")
    assert status == 200 and out["spec"] == {"size": 2}


async def test_json_patch_errors_are_400_for_bad_documents_and_422_for_failed_operations(api: LabAPI) -> None:
    jp = "application/json-patch+json"
    for doc, code in (
        ({"op": "add"}, 400),
        ([{"op": "launch", "path": "/x"}], 400),
        ([{"op": "add", "path": "no-slash", "value": 1}], 400),
        ([{"op": "test", "path": "/spec/replicas", "value": 99}], 422),
        ([{"op": "remove", "path": "/spec/nothing"}], 422),
        ([{"op": "add", "path": "/spec/template/spec/containers/9", "value": {}}], 422),
    ):
        status, out = await api.patch(DEPLOY, doc, jp)
        assert (status, out["code"]) == (code, code), doc
    status, out = await api.patch(DEPLOY, [{"op": "copy", "from": "/metadata/labels", "path": "/spec/template/metadata/labels"}], jp)
    assert status == 200


async def test_apply_records_field_managers_and_refuses_conflicting_changes_unless_forced(api: LabAPI) -> None:
    cm = "/api/v1/namespaces/demo/configmaps/owned"
    first = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\ndata:\n  a: '1'\n  b: '2'\n"
    status, out = await api.patch(cm, first, APPLY, params={"fieldManager": "alice"})
    assert status == 201
    [entry] = out["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("alice", "Apply", "v1")
    assert entry["fieldsType"] == "FieldsV1" and entry["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}

    second = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\ndata:\n  a: '1'\n  c: '3'\n"
    status, out = await api.patch(cm, second, APPLY, params={"fieldManager": "bob"})
    assert status == 200 and out["data"] == {"a": "1", "b": "2", "c": "3"}  # same value: shared

    clash = second.replace("a: '1'", "a: 'bob'")
    status, out = await api.patch(cm, clash, APPLY, params={"fieldManager": "bob"})
    assert (status, out["reason"]) == (409, "Conflict")
    assert out["message"] == 'Apply failed with 1 conflict: conflict with "alice" using v1: .data.a'
    assert out["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "alice" using v1', "field": ".data.a"}
    ]
    status, out = await api.patch(cm, clash, APPLY, params={"fieldManager": "bob", "force": "true"})
    assert status == 200 and out["data"]["a"] == "bob"
    owners = {e["manager"]: e["fieldsV1"]["f:data"] for e in out["metadata"]["managedFields"]}
    assert owners == {"alice": {"f:b": {}}, "bob": {"f:a": {}, "f:c": {}}}

    dropped = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\ndata:\n  c: '3'\n"
    status, out = await api.patch(cm, dropped, APPLY, params={"fieldManager": "bob"})
    assert out["data"] == {"b": "2", "c": "3"}  # bob stopped applying a: removed, nobody else owned it
    status, out = await api.patch(cm, {"data": {"b": "edited"}}, "application/merge-patch+json", params={"fieldManager": "editor"})
    managers = {(e["manager"], e["operation"]) for e in out["metadata"]["managedFields"]}
    assert ("editor", "Update") in managers and ("alice", "Apply") not in managers  # alice lost her only field
    status, out = await api.patch(cm, first, APPLY, params={"fieldManager": "alice"})
    assert status == 409 and "conflict with \"editor\"" in out["message"]


async def test_apply_merges_containers_by_name_and_removes_what_a_manager_stops_applying(api: LabAPI) -> None:
    path = "/apis/apps/v1/namespaces/demo/deployments/applied"
    doc = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: applied
  labels: {app: applied}
spec:
  replicas: 2
  selector: {matchLabels: {app: applied}}
  template:
    metadata: {labels: {app: applied}}
    spec:
      containers:
      - name: web
        image: nginx:1
      - name: side
        image: envoy:1
"""
    status, out = await api.patch(path, doc, APPLY, params={"fieldManager": "ci"})
    assert status == 201
    fields = out["metadata"]["managedFields"][0]["fieldsV1"]
    web = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert web == {".": {}, "f:name": {}, "f:image": {}}
    assert "f:status" not in fields  # status belongs to its subresource
    status, out = await api.patch(
        path, {"spec": {"replicas": 5}}, "application/merge-patch+json", params={"fieldManager": "hpa"}
    )
    status, out = await api.patch(path, doc.replace("nginx:1", "nginx:2"), APPLY, params={"fieldManager": "ci"})
    assert (status, out["reason"]) == (409, "Conflict") and ".spec.replicas" in out["message"]
    no_replicas = doc.replace("  replicas: 2\n", "").replace("nginx:1", "nginx:2")
    without_side = no_replicas.replace("      - name: side\n        image: envoy:1\n", "")
    status, out = await api.patch(path, without_side, APPLY, params={"fieldManager": "ci"})
    assert status == 200 and out["spec"]["replicas"] == 5
    assert [(c["name"], c["image"]) for c in out["spec"]["template"]["spec"]["containers"]] == [("web", "nginx:2")]

    status, out = await api.patch(path, no_replicas, APPLY, params={"fieldManager": "ci"})  # side is back
    injector = {"spec": {"template": {"spec": {"containers": [{"name": "side", "stdin": True}]}}}}
    status, out = await api.patch(path, injector, SMP, params={"fieldManager": "injector"})
    status, out = await api.patch(path, without_side, APPLY, params={"fieldManager": "ci"})
    side = [c for c in out["spec"]["template"]["spec"]["containers"] if c["name"] == "side"]
    assert side == [{"name": "side", "stdin": True}]  # the injector's field keeps the item; ci's image goes


async def test_apply_validates_its_configuration_and_options(api: LabAPI) -> None:
    cm = "/api/v1/namespaces/demo/configmaps/strict"
    good = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\ndata: {a: '1'}\n"
    for doc in (
        "kind: ConfigMap\nmetadata: {name: strict}\n",
        "apiVersion: v1\nmetadata: {name: strict}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strict, managedFields: [{manager: x}]}\n",
        "- a list\n",
    ):
        status, out = await api.patch(cm, doc, APPLY, params={"fieldManager": "t"})
        assert status == 400 and out["kind"] == "Status", doc
    status, out = await api.patch(cm, good, APPLY, params={"fieldManager": "x" * 129})
    assert status == 422
    status, out = await api.patch(cm, good, APPLY, params={"fieldManager": "t", "force": "maybe"})
    assert status == 400
    status, _ = await api.patch(cm, good, APPLY, params={"fieldManager": "t"})
    status, out = await api.patch(
        cm, {"data": {"a": "2"}}, "application/merge-patch+json", params={"force": "true"}
    )
    assert status == 422 and "non-apply patch" in out["message"]
    stale = good.replace("name: strict", "name: strict\n  resourceVersion: '1'")
    status, out = await api.patch(cm, stale, APPLY, params={"fieldManager": "t"})
    assert (status, out["reason"]) == (409, "Conflict")


async def test_updates_record_the_manager_from_the_query_or_the_user_agent(api: LabAPI) -> None:
    status, out = await api.post(
        "/api/v1/namespaces/demo/configmaps",
        {"metadata": {"name": "by-agent"}, "data": {"k": "v"}},
        headers={"User-Agent": "my-operator/1.2 (linux)"},
    )
    [entry] = out["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("my-operator", "Update")
    assert entry["fieldsV1"] == {"f:data": {"f:k": {}}}
    status, out = await api.patch(
        "/api/v1/namespaces/demo/pods/web-0/status",
        {"status": {"phase": "Succeeded"}},
        "application/merge-patch+json",
        params={"fieldManager": "kubelet"},
    )
    assert status == 200
    kubelet = [e for e in out["metadata"]["managedFields"] if e["manager"] == "kubelet"]
    assert kubelet and kubelet[0]["subresource"] == "status" and "f:phase" in kubelet[0]["fieldsV1"]["f:status"]


@needs_kubectl
async def test_kubectl_server_side_apply_reports_conflicts_and_force_conflicts_wins(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    assert KUBECTL is not None
    kc = str(eks_lab.write_kubeconfig(tmp_path / "kc", "lab", static_token=True, namespace="demo"))
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  owner: first\n")
    base = (KUBECTL, "--kubeconfig", kc, "apply", "--server-side", "--validate=false", "-f", str(manifest))
    rc, out, err = await run(*base, "--field-manager=first")
    assert rc == 0 and "serverside-applied" in out, err
    manifest.write_text(manifest.read_text().replace("owner: first", "owner: second"))
    rc, out, err = await run(*base, "--field-manager=second")
    assert rc != 0 and "conflict" in err.lower() and ".data.owner" in err
    rc, out, err = await run(*base, "--field-manager=second", "--force-conflicts")
    assert rc == 0, err
    rc, out, err = await run(KUBECTL, "--kubeconfig", kc, "get", "cm", "ssa", "-o", "json", "--show-managed-fields")
    managers = {e["manager"] for e in json.loads(out)["metadata"]["managedFields"]}
    assert json.loads(out)["data"] == {"owner": "second"} and managers == {"second"}

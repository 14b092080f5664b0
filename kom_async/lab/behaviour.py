"""What a real control plane would do to objects: defaults, controllers' status, seeding.

The lab has no controllers, so writes are completed synchronously: pods run at once,
workloads report their replicas and conditions (``controllers.py``), CRDs become servable types.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from datetime import datetime, timedelta
from typing import Any

from kom_async.lab.controllers import WORKLOADS, complete_workload
from kom_async.lab.resources import ResourceType, TypeRegistry
from kom_async.lab.state import ClusterState
from kom_async.lab.status import ApiError

Obj = dict[str, Any]
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IPS = itertools.count(10)
NODES = ("lab-node-1", "lab-node-2")


def validate(rt: ResourceType, obj: Obj) -> None:
    """Reject objects a real API server would answer 422 Invalid for."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise ApiError.invalid(rt.kind, "", "metadata: Required value")
    name = meta.get("name", "")
    for field in ("spec", "status"):
        if field in obj and not isinstance(obj[field], dict):
            raise ApiError.invalid(rt.kind, str(name), f"{field}: must be an object")
    for field in ("data", "stringData"):
        value = obj.get(field)
        if value is not None and (
            not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
        ):
            raise ApiError.invalid(rt.kind, str(name), f"{field}: must map strings to strings")
    if not isinstance(name, str) or (name and not _name_ok(rt, name)):
        raise ApiError.invalid(
            rt.kind, str(name), "metadata.name: Invalid value: a lowercase RFC 1123 subdomain"
        )
    for field in ("labels", "annotations"):
        value = meta.get(field)
        if value is not None and (
            not isinstance(value, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            raise ApiError.invalid(rt.kind, name, f"metadata.{field}: must map strings to strings")
    if rt.key == ("", "pods"):
        containers = (obj.get("spec") or {}).get("containers")
        if not isinstance(containers, list) or not containers:
            raise ApiError.invalid(rt.kind, name, "spec.containers: Required value")
        for c in containers:
            if not isinstance(c, dict) or not c.get("name") or not c.get("image"):
                raise ApiError.invalid(rt.kind, name, "spec.containers: name and image required")
    if rt.key in WORKLOADS:
        spec = obj.get("spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("template"), dict):
            raise ApiError.invalid(rt.kind, name, "spec.template: Required value")
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError.invalid(rt.kind, name, "spec.replicas: must be >= 0")
    if rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
        crd_types(obj)  # raises on a malformed CRD


def _name_ok(rt: ResourceType, name: str) -> bool:
    if len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        return False
    return rt.kind != "Namespace" or ("." not in name and len(name) <= 63)


def crd_types(crd: Obj) -> list[ResourceType]:
    """The resource types a CRD object defines (one per served version)."""
    spec = crd.get("spec")
    name = (crd.get("metadata") or {}).get("name", "")
    kind = "CustomResourceDefinition"
    if not isinstance(spec, dict):
        raise ApiError.invalid(kind, name, "spec: Required value")
    group, names, versions = spec.get("group"), spec.get("names"), spec.get("versions")
    if not isinstance(group, str) or "." not in group:
        raise ApiError.invalid(kind, name, "spec.group: should be a domain with at least one dot")
    if not isinstance(names, dict) or not names.get("plural") or not names.get("kind"):
        raise ApiError.invalid(kind, name, "spec.names: plural and kind are required")
    if name != f"{names['plural']}.{group}":
        raise ApiError.invalid(kind, name, "metadata.name: must be spec.names.plural+.+spec.group")
    if not isinstance(versions, list) or not versions:
        raise ApiError.invalid(kind, name, "spec.versions: must have exactly one storage version")
    scope = spec.get("scope", "Namespaced")
    if scope not in ("Namespaced", "Cluster"):
        raise ApiError.invalid(kind, name, "spec.scope: must be Namespaced or Cluster")
    out = []
    for v in versions:
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            raise ApiError.invalid(kind, name, "spec.versions[].name: Required value")
        if v.get("served", True):
            out.append(
                ResourceType(
                    group,
                    v["name"],
                    str(names["plural"]),
                    str(names["kind"]),
                    scope == "Namespaced",
                    tuple(names.get("shortNames") or ()),
                    ("status",) if (v.get("subresources") or {}).get("status") is not None else (),
                    tuple(names.get("categories") or ()),
                )
            )
    return out


def complete(rt: ResourceType, obj: Obj, now: datetime) -> None:
    """Fill in defaults and the status a controller would report (at ``now``), before storing ``obj``."""
    obj["apiVersion"] = rt.group_version
    obj["kind"] = rt.kind
    spec = obj.setdefault("spec", {}) if rt.key != ("", "configmaps") else None
    if rt.key == ("", "pods") and spec is not None:
        spec.setdefault("nodeName", NODES[len(obj["metadata"].get("name", "")) % len(NODES)])
        spec.setdefault("restartPolicy", "Always")
        status = obj.setdefault("status", {})
        status.setdefault("phase", "Running")
        status.setdefault("podIP", str(ipaddress.ip_address("10.244.0.0") + next(_IPS)))
        status.setdefault("conditions", [{"type": "Ready", "status": "True"}])
        running = status["phase"] == "Running"
        status["containerStatuses"] = [
            {
                "name": c.get("name"),
                "image": c.get("image"),
                "imageID": f"lab.local/{c.get('image')}@sha256:{'0' * 64}",
                "containerID": f"containerd://{obj['metadata'].get('name', '')}-{c.get('name')}",
                "ready": running,
                "restartCount": 0,
                "started": running,
                "state": {"running": {}} if running else {"waiting": {"reason": "Pending"}},
            }
            for c in spec.get("containers") or []
            if isinstance(c, dict)
        ]
    elif rt.key in WORKLOADS and spec is not None:
        complete_workload(rt.key, obj, now)
    elif rt.key == ("", "namespaces") and spec is not None:
        spec.setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif rt.key == ("", "services") and spec is not None:
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("clusterIP", str(ipaddress.ip_address("10.96.0.0") + next(_IPS)))
    elif rt.key == ("apiextensions.k8s.io", "customresourcedefinitions") and spec is not None:
        obj["status"] = {
            "acceptedNames": spec.get("names", {}),
            "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
            "conditions": [{"type": "Established", "status": "True"}],
        }
    elif rt.key == ("", "nodes") and spec is not None:
        obj.setdefault("status", {}).setdefault("conditions", [{"type": "Ready", "status": "True"}])


def _pod(name: str, app: str, image: str, node: str) -> Obj:
    return {
        "metadata": {"name": name, "labels": {"app": app, "tier": "frontend" if app == "web" else "backend"}},
        "spec": {"nodeName": node, "containers": [{"name": app, "image": image}]},
    }


def seed(state: ClusterState, types: TypeRegistry, now: datetime) -> None:
    """Create what every lab cluster starts with: namespaces, nodes, demo pods and a deployment."""
    # long: seed data, one object after another, reads best as a list
    store = state.store

    def put(group: str, plural: str, namespace: str, obj: Obj) -> None:
        rt = next(t for t in types.types.values() if t.key == (group, plural))
        obj["metadata"]["generation"] = 1  # as the store sets it, so controllers can observe it
        complete(rt, obj, now)
        store.create(rt, namespace, obj)

    for ns in ("default", "kube-system", "kube-public", "demo"):
        put("", "namespaces", "", {"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}})
    for node in NODES:
        put(
            "",
            "nodes",
            "",
            {
                "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node}},
                "spec": {},
                "status": {"nodeInfo": {"kubeletVersion": "v1.32.0-lab"}},
            },
        )
    put("", "pods", "demo", _pod("web-0", "web", "nginx:1.27", NODES[0]))
    put("", "pods", "demo", _pod("web-1", "web", "nginx:1.27", NODES[1]))
    put("", "pods", "demo", _pod("api-0", "api", "ghcr.io/lab/api:1.0", NODES[0]))
    put("", "pods", "kube-system", _pod("coredns-0", "coredns", "coredns:1.11", NODES[1]))
    put(
        "apps",
        "deployments",
        "demo",
        {
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        },
    )
    put("", "configmaps", "demo", {"metadata": {"name": "web-config"}, "data": {"greeting": "hello"}})
    put(
        "",
        "services",
        "demo",
        {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    )
    put(
        "",
        "events",
        "demo",
        {
            "metadata": {"name": "web-0.lab"},
            "involvedObject": {"kind": "Pod", "namespace": "demo", "name": "web-0"},
            "reason": "Started",
            "message": "Started container web",
            "type": "Normal",
            "lastTimestamp": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )

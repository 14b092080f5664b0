"""The resource types a lab cluster serves and the discovery documents that describe them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUBRESOURCE_KINDS = {
    "scale": "Scale",
    "log": "Pod",
    "exec": "PodExecOptions",
    "portforward": "PodPortForwardOptions",
}
SUBRESOURCE_VERBS = {"log": ["get"], "exec": ["create", "get"], "portforward": ["create", "get"]}
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One servable resource: where it lives (group/version/plural) and what it is."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        """``v1`` for the core group, ``<group>/<version>`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Identity in the store (group, plural): versions of one group share objects."""
        return (self.group, self.plural)

    def api_resources(self) -> list[dict[str, Any]]:
        """This type's entries in an APIResourceList."""
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        out = [main]
        for sub in self.subresources:
            group, version, kind, verbs = self.subresource(sub)
            entry: dict[str, Any] = {
                "name": f"{self.plural}/{sub}",
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": kind,
                "verbs": verbs,
            }
            if sub == "scale":  # the one subresource served in another group version
                entry["group"] = group
                entry["version"] = version
            out.append(entry)
        return out

    def subresource(self, sub: str) -> tuple[str, str, str, list[str]]:
        """The group, version and kind a subresource answers with, and its verbs."""
        group, version = ("autoscaling", "v1") if sub == "scale" else (self.group, self.version)
        kind = SUBRESOURCE_KINDS.get(sub, self.kind)
        return group, version, kind, SUBRESOURCE_VERBS.get(sub, ["get", "patch", "update"])

    def discovery_resource(self) -> dict[str, Any]:
        """This type's entry in an aggregated discovery document (apidiscovery.k8s.io/v2)."""
        entry: dict[str, Any] = {
            "resource": self.plural,
            "responseKind": {"group": self.group, "version": self.version, "kind": self.kind},
            "scope": "Namespaced" if self.namespaced else "Cluster",
            "singularResource": self.kind.lower(),
            "verbs": list(ALL_VERBS),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        subs = []
        for sub in self.subresources:
            group, version, kind, verbs = self.subresource(sub)
            subs.append(
                {
                    "subresource": sub,
                    "responseKind": {"group": group, "version": version, "kind": kind},
                    "verbs": verbs,
                }
            )
        if subs:
            entry["subresources"] = subs
        return entry


BUILTIN_TYPES = (
    ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",), ("status",)),
    ResourceType("", "v1", "pods", "Pod", True, ("po",), ("log", "status", "exec", "portforward"), ("all",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True),
    ResourceType("", "v1", "services", "Service", True, ("svc",), ("status",), ("all",)),
    ResourceType("", "v1", "events", "Event", True, ("ev",)),
    ResourceType("", "v1", "nodes", "Node", False, ("no",), ("status",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    ResourceType("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("scale", "status"), ("all",)),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("scale", "status"), ("all",)),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("scale", "status"), ("all",)),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",), ("all",)),
    ResourceType("batch", "v1", "jobs", "Job", True, (), ("status",), ("all",)),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        ("status",),
    ),
)


@dataclass
class TypeRegistry:
    """The types one cluster serves: the built-ins plus the CRDs created in it."""

    types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rt in BUILTIN_TYPES:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        """Serve ``rt`` from now on."""
        self.types[(rt.group, rt.version, rt.plural)] = rt

    def remove_group_plural(self, group: str, plural: str) -> None:
        """Stop serving every version of ``group``/``plural`` (a CRD was deleted)."""
        for key in [k for k in self.types if k[0] == group and k[2] == plural]:
            del self.types[key]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type at ``/apis/<group>/<version>/<plural>``, if served."""
        return self.types.get((group, version, plural))

    def versions(self, group: str) -> list[str]:
        """Versions served for ``group`` (preferred first)."""
        seen: list[str] = []
        for g, v, _ in self.types:
            if g == group and v not in seen:
                seen.append(v)
        return seen

    def api_versions(self) -> dict[str, Any]:
        """The ``/api`` document."""
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        }

    def api_group_list(self) -> dict[str, Any]:
        """The ``/apis`` document (APIGroupList)."""
        groups: dict[str, list[str]] = {}
        for g, v, _ in self.types:
            if g and v not in groups.setdefault(g, []):
                groups[g].append(v)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self.api_group(g, vs) for g, vs in groups.items()],
        }

    def api_group(self, group: str, versions: list[str] | None = None) -> dict[str, Any]:
        """The ``/apis/<group>`` document (APIGroup)."""
        vs = versions if versions is not None else self.versions(group)
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in vs]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0] if entries else {},
        }

    def aggregated(self, *, core: bool) -> dict[str, Any]:
        """The aggregated ``/api`` (``core``) or ``/apis`` document, as Kubernetes 1.30+ serves
        it to clients that ask for ``apidiscovery.k8s.io/v2``: every resource in one answer."""
        groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for (g, v, _), rt in self.types.items():
            if (g == "") == core:
                groups.setdefault(g, {}).setdefault(v, []).append(rt.discovery_resource())
        items = [
            {
                "metadata": {"name": g, "creationTimestamp": None},
                "versions": [
                    {"version": v, "resources": res, "freshness": "Current"} for v, res in versions.items()
                ],
            }
            for g, versions in groups.items()
        ]
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        }

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        """The ``/api/v1`` or ``/apis/<group>/<version>`` document, or None if not served."""
        resources: list[dict[str, Any]] = []
        for (g, v, _), rt in self.types.items():
            if g == group and v == version:
                resources.extend(rt.api_resources())
        if not resources:
            return None
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

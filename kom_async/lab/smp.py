"""Strategic merge patch for the lab's built-in types, driven by a table of their list merge keys.

The table mirrors the ``patchMergeKey``/``patchStrategy`` tags of the Kubernetes Go types the lab
serves. Lists named in it merge by key (or, for primitive lists tagged ``merge``, as sets); every
other list is replaced, as the API server does. Directives: ``$patch`` (merge/replace/delete, in
maps and as list items), ``$retainKeys``, ``$deleteFromPrimitiveList/<field>`` and
``$setElementOrder/<field>``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Union

from kom_async.errors import KomError


class SmpError(KomError):
    """A strategic merge patch is malformed (answered with 400)."""


@dataclass(frozen=True)
class ListSpec:
    """A list merged by ``key`` (items are maps described by ``item``); ``key=None``: a set."""

    key: str | None
    item: Schema = field(default_factory=dict)


Schema = dict[str, Union["Schema", ListSpec]]
SET = ListSpec(None)
CONDITIONS = ListSpec("type")
META: Schema = {"finalizers": SET, "ownerReferences": ListSpec("uid")}
CONTAINER: Schema = {
    "ports": ListSpec("containerPort"),
    "env": ListSpec("name"),
    "volumeMounts": ListSpec("mountPath"),
    "volumeDevices": ListSpec("devicePath"),
}
POD_SPEC: Schema = {
    "containers": ListSpec("name", CONTAINER),
    "initContainers": ListSpec("name", CONTAINER),
    "ephemeralContainers": ListSpec("name", CONTAINER),
    "volumes": ListSpec("name"),
    "imagePullSecrets": ListSpec("name"),
    "hostAliases": ListSpec("ip"),
    "topologySpreadConstraints": ListSpec("topologyKey"),
    "resourceClaims": ListSpec("name"),
    "schedulingGates": ListSpec("name"),
}
SCHEMAS: dict[tuple[str, str], Schema] = {
    ("", "pods"): {
        "metadata": META,
        "spec": POD_SPEC,
        "status": {"conditions": CONDITIONS, "podIPs": ListSpec("ip")},
    },
    **{
        workload: {
            "metadata": META,
            "spec": {"template": {"metadata": META, "spec": POD_SPEC}},
            "status": {"conditions": CONDITIONS},
        }
        for workload in (
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("batch", "jobs"),
        )
    },
    ("", "services"): {"metadata": META, "spec": {"ports": ListSpec("port")}},
    ("", "nodes"): {
        "metadata": META,
        "spec": {"podCIDRs": SET},
        "status": {"conditions": CONDITIONS, "addresses": ListSpec("type")},
    },
    ("", "namespaces"): {"metadata": META, "status": {"conditions": CONDITIONS}},
    ("", "serviceaccounts"): {"metadata": META, "secrets": ListSpec("name")},
}


def schema_for(key: tuple[str, str]) -> Schema:
    """The merge table of a built-in type (only ``metadata``'s lists for the others)."""
    return SCHEMAS.get(key, {"metadata": META})


_DELETE = object()
_DIRECTIVES = ("$patch", "$retainKeys")
_PREFIXES = ("$deleteFromPrimitiveList/", "$setElementOrder/")


def strategic_merge(original: Any, patch: Any, schema: Schema) -> Any:
    """``original`` with ``patch`` applied (neither is modified)."""
    if not isinstance(patch, dict):
        raise SmpError("a strategic merge patch must be a JSON object")
    base = original if isinstance(original, dict) else {}
    merged = _merge_map(base, patch, schema)
    return {} if merged is _DELETE else merged


def _sub(schema: Schema, key: str) -> Schema:
    sub = schema.get(key)
    return sub if isinstance(sub, dict) else {}


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> Any:
    directive = patch.get("$patch", "merge")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _merge_map({}, {k: v for k, v in patch.items() if k != "$patch"}, schema)
    if directive != "merge":
        raise SmpError(f"Unknown patch type: {directive!r} (use merge, replace or delete)")
    result = copy.deepcopy(original)
    for key, value in patch.items():
        if key in _DIRECTIVES or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if not isinstance(value, list) or not isinstance(result.get(name, []), list):
                raise SmpError(f"{key} must be a list applied to a list")
            result[name] = [x for x in result.get(name, []) if x not in value]
            continue
        if key.startswith("$"):
            raise SmpError(f"unknown strategic merge patch directive {key!r}")
        if value is None:
            result.pop(key, None)
            continue
        spec = schema.get(key)
        if isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, _sub(schema, key))
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and isinstance(spec, ListSpec):
            current = result.get(key)
            result[key] = _merge_list(current if isinstance(current, list) else [], value, spec)
        else:
            result[key] = copy.deepcopy(value)
    for key, order in patch.items():
        if key.startswith("$setElementOrder/"):
            name = key.split("/", 1)[1]
            spec = schema.get(name)
            if not isinstance(order, list) or not isinstance(spec, ListSpec):
                raise SmpError(f"{key} must be a list and name a merging list")
            if isinstance(result.get(name), list):
                result[name] = _reorder(result[name], order, spec)
    return _retain(result, patch.get("$retainKeys"))


def _retain(result: dict[str, Any], keys: Any) -> dict[str, Any]:
    if keys is None:
        return result
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise SmpError("$retainKeys must be a list of field names")
    return {k: v for k, v in result.items() if k in keys}


def _is_directive(item: Any, value: str) -> bool:
    return isinstance(item, dict) and item.get("$patch") == value and len(item) == 1


def _merge_list(original: list[Any], patch: list[Any], spec: ListSpec) -> list[Any]:
    if any(_is_directive(x, "replace") for x in patch):
        return _merge_list([], [x for x in patch if not _is_directive(x, "replace")], spec)
    if spec.key is None:  # a set of primitives
        result = copy.deepcopy(original)
        for item in patch:
            if isinstance(item, (dict, list)):
                raise SmpError("a primitive list can only hold primitives")
            if item not in result:
                result.append(item)
        return result
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or spec.key not in item:
            raise SmpError(f"map: {item!r} does not contain declared merge key: {spec.key}")
        at = next(
            (
                i
                for i, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(spec.key) == item[spec.key]
            ),
            None,
        )
        merged = _merge_map(result[at] if at is not None else {}, item, spec.item)
        if merged is _DELETE:
            if at is not None:
                del result[at]
        elif at is None:
            result.append(merged)
        else:
            result[at] = merged
    return result


def _reorder(items: list[Any], order: list[Any], spec: ListSpec) -> list[Any]:
    """Items named in ``order`` first, in that order; the others after, as they were."""

    def ident(x: Any) -> Any:
        return x.get(spec.key) if spec.key is not None and isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    ranked = [x for w in wanted for x in items if ident(x) == w]
    return ranked + [x for x in items if ident(x) not in wanted]

"""Server-side apply and field ownership (``metadata.managedFields``) for the lab's types.

Every write records which manager set which fields: ``Update`` entries for create/update/patch,
``Apply`` entries for server-side apply. Apply merges the applied configuration (lists by the merge
keys of :mod:`kom_async.lab.smp`), removes fields the manager applied before and no longer does,
and refuses (409) to change a field another manager owns unless ``force=true``.

Fields are paths like ``("f:spec", "f:containers", 'k:{"name":"web"}', "f:image")``; list items
are ``k:`` (merge key) or ``v:`` (set value) elements, as in ``FieldsV1``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kom_async.lab.smp import ListSpec, Schema, strategic_merge
from kom_async.lab.status import ApiError

Obj = dict[str, Any]
Path = tuple[str, ...]
IGNORED_META = frozenset(
    {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"}
    | {"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}
)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def leaves(obj: Any, schema: Schema, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every owned path of ``obj`` with its value (list items yield their own path, value None)."""
    if not isinstance(obj, dict):
        return
    for key, value in obj.items():
        path = (*prefix, f"f:{key}")
        spec = schema.get(key)
        if isinstance(value, dict) and value:
            yield from leaves(value, spec if isinstance(spec, dict) else {}, path)
        elif isinstance(value, list) and isinstance(spec, ListSpec):
            for item in value:
                if spec.key is None:
                    yield (*path, f"v:{_compact(item)}"), item
                elif isinstance(item, dict) and spec.key in item:
                    item_path = (*path, f"k:{_compact({spec.key: item[spec.key]})}")
                    yield item_path, None
                    yield from leaves(item, spec.item, item_path)
        else:
            yield path, value


def tracked(obj: Obj, schema: Schema, status_owned_elsewhere: bool) -> dict[Path, Any]:
    """The paths field managers own: all but identity fields (and status, if it is a subresource)."""
    out = {}
    for path, value in leaves(obj, schema):
        if path[0] in ("f:apiVersion", "f:kind"):
            continue
        if path[0] == "f:metadata" and len(path) > 1 and path[1][2:] in IGNORED_META:
            continue
        if path[0] == "f:status" and status_owned_elsewhere:
            continue
        out[path] = value
    return out


def encode(paths: set[Path]) -> Obj:
    """Paths as a ``FieldsV1`` document (``"."`` marks a list item owned as a whole)."""
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for element in path:
            node = node.setdefault(element, {})
        if path[-1].startswith("k:"):
            node["."] = {}
    return root


def decode(fields: Any, prefix: Path = ()) -> set[Path]:
    """The paths of a ``FieldsV1`` document; malformed parts are ignored."""
    out: set[Path] = set()
    if not isinstance(fields, dict):
        return out
    for key, child in fields.items():
        if key == ".":
            if prefix:
                out.add(prefix)
            continue
        if not isinstance(key, str):
            continue
        if child == {}:
            out.add((*prefix, key))
        else:
            out |= decode(child, (*prefix, key))
    return out


@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    time: str
    paths: set[Path]
    subresource: str = ""

    def render(self) -> Obj:
        out: Obj = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode(self.paths),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _entries(obj: Obj | None) -> list[_Entry]:
    raw = ((obj or {}).get("metadata") or {}).get("managedFields")
    out = []
    for e in raw if isinstance(raw, list) else []:
        if isinstance(e, dict) and isinstance(e.get("manager"), str):
            out.append(
                _Entry(
                    e["manager"],
                    str(e.get("operation", "Update")),
                    str(e.get("apiVersion", "")),
                    str(e.get("time", "")),
                    decode(e.get("fieldsV1")),
                    str(e.get("subresource", "")),
                )
            )
    return out


def _store(obj: Obj, entries: list[_Entry]) -> None:
    kept = [e.render() for e in entries if e.paths]
    meta = obj.setdefault("metadata", {})
    if kept:
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry_for(entries: list[_Entry], manager: str, operation: str, api_version: str, sub: str) -> _Entry:
    for e in entries:
        if (e.manager, e.operation, e.subresource) == (manager, operation, sub):
            e.api_version = api_version
            return e
    entry = _Entry(manager, operation, api_version, "", set(), sub)
    entries.append(entry)
    return entry


def track_update(
    old: Obj | None,
    new: Obj,
    *,
    manager: str,
    api_version: str,
    schema: Schema,
    now: datetime,
    subresource: str = "",
    status_owned_elsewhere: bool = False,
) -> None:
    """Record a non-apply write in ``new``'s managedFields (``new`` is changed in place)."""
    sent = (new.get("metadata") or {}).get("managedFields")
    entries = _entries(new) if isinstance(sent, list) and sent else _entries(old)
    status_apart = status_owned_elsewhere and not subresource
    before = tracked(old or {}, schema, status_apart)
    after = tracked(new, schema, status_apart)
    if subresource == "status":
        before = {p: v for p, v in before.items() if p[0] == "f:status"}
        after = {p: v for p, v in after.items() if p[0] == "f:status"}
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    removed = set(before) - set(after)
    for e in entries:
        e.paths -= changed | removed
    if changed:
        entry = _entry_for(entries, manager, "Update", api_version, subresource)
        entry.paths |= changed
        entry.time = _stamp(now)
    _store(new, entries)


@dataclass(frozen=True)
class ApplyRequest:
    """One server-side apply: who applies, whether it may take fields from others."""

    manager: str
    force: bool
    api_version: str
    schema: Schema
    status_owned_elsewhere: bool


def apply(live: Obj | None, applied: Obj, req: ApplyRequest, now: datetime) -> Obj:
    """The object after ``req.manager`` applies ``applied`` to ``live``; 409 on conflicts."""
    entries = _entries(live)
    mine = _entry_for(entries, req.manager, "Apply", req.api_version, "")
    live_obj: Obj = copy.deepcopy(live) if live is not None else {}
    live_fields = tracked(live_obj, req.schema, req.status_owned_elsewhere)
    applied_fields = tracked(applied, req.schema, req.status_owned_elsewhere)
    conflicts: dict[tuple[str, str], list[Path]] = {}
    for e in entries:
        if e is mine:
            continue
        for path in sorted(e.paths & set(applied_fields)):
            if path[-1].startswith(("k:", "v:")) or live_fields.get(path) == applied_fields[path]:
                continue  # a shared item, or the same value: both managers own it
            conflicts.setdefault((e.manager, e.api_version), []).append(path)
    if conflicts and not req.force:
        raise _conflict_error(conflicts)
    for e in entries:
        if e is not mine:
            e.paths -= {p for paths in conflicts.values() for p in paths}
    dropped = mine.paths - set(applied_fields)
    mine.paths = set(applied_fields)
    still_owned = set().union(*(e.paths for e in entries))
    removed: list[Path] = []
    for path in sorted(dropped, key=len):  # a whole list item before its fields
        if any(path[: len(r)] == r for r in removed) or _is_item_key(path):
            continue
        if not any(p[: len(path)] == path for p in still_owned):
            _remove(live_obj, path)
            removed.append(path)
    clean = {k: v for k, v in applied.items() if k != "status" or not req.status_owned_elsewhere}
    result: Obj = strategic_merge(live_obj, clean, req.schema)
    mine.time = _stamp(now)
    _store(result, entries)
    return result


def _is_item_key(path: Path) -> bool:
    """Whether ``path`` is the merge key field of a list item (it stays while the item does)."""
    if len(path) < 2 or not path[-2].startswith("k:") or not path[-1].startswith("f:"):
        return False
    return path[-1][2:] in json.loads(path[-2][2:])


def _remove(obj: Any, path: Path) -> None:
    node = obj
    for i, element in enumerate(path):
        last = i == len(path) - 1
        kind, _, rest = element.partition(":")
        if kind == "f" and isinstance(node, dict):
            if last:
                node.pop(rest, None)
                return
            node = node.get(rest)
        elif kind in ("k", "v") and isinstance(node, list):
            want = json.loads(rest)
            for j, item in enumerate(node):
                hit = (
                    item == want
                    if kind == "v"
                    else all(isinstance(item, dict) and item.get(k) == v for k, v in want.items())
                )
                if hit:
                    if last:
                        del node[j]
                        return
                    node = item
                    break
            else:
                return
        else:
            return


def render_path(path: Path) -> str:
    """A field path as the API server prints it in conflicts: ``.spec.containers[name="web"].image``."""
    out = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            out += f".{rest}"
        elif kind == "k":
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(rest).items()) + "]"
        else:
            out += f"[={rest}]"
    return out


def _conflict_error(conflicts: dict[tuple[str, str], list[Path]]) -> ApiError:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f'conflict with "{manager}" using {version}',
            "field": render_path(path),
        }
        for (manager, version), paths in conflicts.items()
        for path in paths
    ]
    if len(causes) == 1:
        head = f"Apply failed with 1 conflict: {causes[0]['message']}: {causes[0]['field']}"
    else:
        lines = "".join(f"\n- {c['message']}: {c['field']}" for c in causes)
        head = f"Apply failed with {len(causes)} conflicts:{lines}"
    err = ApiError(409, head, reason="Conflict")
    err.body["details"] = {"causes": causes}
    return err

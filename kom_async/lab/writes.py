"""Create, update, patch and delete as the API server does them: identity checks, defaults,
field managers, ``dryRun=All`` (validated and answered as if done, nothing stored).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from aiohttp import web

from kom_async.config.yamlload import YAMLBoundError, load_one
from kom_async.lab import behaviour, fieldmanager
from kom_async.lab.controllers import OBSERVES_GENERATION
from kom_async.lab.patch import json_patch, merge_patch
from kom_async.lab.resources import BUILTIN_TYPES, ResourceType
from kom_async.lab.smp import SmpError, schema_for, strategic_merge
from kom_async.lab.state import ClusterState
from kom_async.lab.status import ApiError

Obj = dict[str, Any]
APPLY = "application/apply-patch+yaml"
SMP = "application/strategic-merge-patch+json"
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
_BUILTIN = frozenset(t.key for t in BUILTIN_TYPES)


@dataclass(frozen=True)
class WriteContext:
    """What a write request asked for beyond its body: dry run, field manager, force, the time."""

    dry_run: bool
    manager: str
    force: bool
    now: datetime

    @classmethod
    def of(cls, request: web.Request, now: datetime) -> WriteContext:
        """Read ``dryRun``, ``fieldManager`` and ``force`` as the API server validates them."""
        dry = request.query.getall("dryRun", [])
        if any(d != "All" for d in dry):
            raise ApiError.invalid(
                "Options", "", f'dryRun: Unsupported value: {dry!r}: supported values: "All"'
            )
        manager = request.query.get("fieldManager")
        if manager is not None and (len(manager) > 128 or not manager.isprintable()):
            raise ApiError.invalid(
                "Options", "", "fieldManager: Invalid value: must be at most 128 printable characters"
            )
        force = request.query.get("force")
        if force not in (None, "true", "false"):
            raise ApiError(400, f"invalid value for force: {force!r}", reason="BadRequest")
        if force is not None and request.method == "PATCH" and request.content_type != APPLY:
            raise ApiError.invalid(
                "PatchOptions", "", "force: Forbidden: may not be specified for non-apply patch"
            )
        agent = request.headers.get("User-Agent", "")
        default = agent.split("/", 1)[0][:128] or "unknown"
        return cls(bool(dry), manager or default, force == "true", now)


async def read_body(request: web.Request) -> Obj:
    """The request body as JSON (or YAML for yaml content types); 400 if it is not an object."""
    raw = await request.read()
    try:
        body = load_one(raw) if "yaml" in request.content_type else json.loads(raw)
    except YAMLBoundError as exc:
        raise ApiError(400, f"the request body is refused: {exc}", reason="BadRequest") from None
    except (ValueError, yaml.YAMLError):
        raise ApiError(400, "the request body is not valid JSON/YAML", reason="BadRequest") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be an object", reason="BadRequest")
    return body


def check_identity(rt: ResourceType, namespace: str, body: Any) -> None:
    """400 unless kind, apiVersion and namespace (when sent) match the URL."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be an object", reason="BadRequest")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind is not None and kind != rt.kind:
        raise ApiError(
            400, f"the kind {kind!r} does not match the resource {rt.plural!r}", reason="BadRequest"
        )
    if api_version is not None and api_version != rt.group_version:
        raise ApiError(
            400, f"the API version {api_version!r} does not match {rt.group_version!r}", reason="BadRequest"
        )
    meta = body.get("metadata")
    if isinstance(meta, dict) and rt.namespaced:
        ns = meta.get("namespace")
        if ns and namespace and ns != namespace:
            raise ApiError(
                400,
                "the namespace of the provided object does not match the namespace sent on the request",
                reason="BadRequest",
            )


def _track(rt: ResourceType, old: Obj | None, new: Obj, ctx: WriteContext, sub: str = "") -> None:
    fieldmanager.track_update(
        old,
        new,
        manager=ctx.manager,
        api_version=rt.group_version,
        schema=schema_for(rt.key),
        now=ctx.now,
        subresource=sub,
        status_owned_elsewhere="status" in rt.subresources,
    )


def create(
    state: ClusterState, rt: ResourceType, namespace: str, body: Obj, ctx: WriteContext, *, track: bool = True
) -> Obj:
    """Validate, default and store a new object (or, dry run, return what would be stored)."""
    check_identity(rt, namespace, body)
    obj = copy.deepcopy(body)
    obj.setdefault("metadata", {})
    if isinstance(obj["metadata"], dict):
        for drop in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            obj["metadata"].pop(drop, None)
    behaviour.validate(rt, obj)
    behaviour.complete(rt, obj, ctx.now)
    if track:
        _track(rt, None, obj, ctx)
    new_types = behaviour.crd_types(obj) if rt.key == CRD_KEY else []
    stored = state.store.create(rt, namespace, obj, dry_run=ctx.dry_run)
    if not ctx.dry_run:
        for t in new_types:
            state.types.add(t)
    return _after_write(state, rt, stored, ctx)


def _after_write(state: ClusterState, rt: ResourceType, stored: Obj, ctx: WriteContext) -> Obj:
    """A workload's controller reports the generation it saw (a second write, as in a cluster)."""
    if rt.key in OBSERVES_GENERATION:
        status = stored.get("status") or {}
        gen = stored["metadata"].get("generation")
        if status.get("observedGeneration") != gen:
            fixed = copy.deepcopy(stored)
            fixed.setdefault("status", {})["observedGeneration"] = gen
            if ctx.dry_run:
                return fixed
            meta = fixed["metadata"]
            return state.store.update(rt, meta.get("namespace", ""), meta["name"], fixed)
    return stored


def update(
    state: ClusterState,
    rt: ResourceType,
    namespace: str,
    name: str,
    body: Obj,
    ctx: WriteContext,
    *,
    track: bool = True,
) -> Obj:
    """Replace an object (409 on a stale resourceVersion); status is kept from the stored object."""
    check_identity(rt, namespace, body)
    obj = copy.deepcopy(body)
    meta = obj.setdefault("metadata", {})
    if isinstance(meta, dict) and meta.get("name") not in (None, name):
        raise ApiError(400, "the name of the object does not match the name on the URL", reason="BadRequest")
    if isinstance(meta, dict):
        meta["name"] = name
    behaviour.validate(rt, obj)
    old = state.store.get(rt, namespace, name)
    if rt.key == ("", "pods") or "status" in rt.subresources:
        obj.pop("status", None)
        if "status" in old:
            obj["status"] = old["status"]  # status changes only via the status subresource
    behaviour.complete(rt, obj, ctx.now)
    if track:
        _track(rt, old, obj, ctx)
    stored = state.store.update(rt, namespace, name, obj, dry_run=ctx.dry_run)
    if rt.key == CRD_KEY and not ctx.dry_run:
        for t in behaviour.crd_types(stored):
            state.types.add(t)
    return _after_write(state, rt, stored, ctx)


def update_status(
    state: ClusterState, rt: ResourceType, namespace: str, name: str, status: Any, ctx: WriteContext
) -> Obj:
    """Write only ``status`` (the status subresource), recording the manager for it."""
    old = state.store.get(rt, namespace, name)
    obj = copy.deepcopy(old)
    obj["status"] = status if isinstance(status, dict) else {}
    _track(rt, old, obj, ctx, "status")
    return state.store.update(rt, namespace, name, obj, dry_run=ctx.dry_run)


def delete(state: ClusterState, rt: ResourceType, namespace: str, name: str, ctx: WriteContext) -> Obj:
    """Remove an object (a namespace takes its contents, a CRD its type) unless a dry run."""
    obj = state.store.delete(rt, namespace, name, dry_run=ctx.dry_run)
    if ctx.dry_run:
        return obj
    if rt.key == ("", "namespaces"):
        state.store.delete_namespace_contents(name, list(state.types.types.values()))
    if rt.key == CRD_KEY:
        for t in behaviour.crd_types(obj):
            state.types.remove_group_plural(t.group, t.plural)
            state.store.drop_type(t)
    return obj


async def _patch_document(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return load_one(raw) if request.content_type == APPLY else json.loads(raw)
    except YAMLBoundError as exc:
        raise ApiError(400, f"the patch is refused: {exc}", reason="BadRequest") from None
    except (ValueError, yaml.YAMLError):
        raise ApiError(400, "the patch is not valid JSON/YAML", reason="BadRequest") from None


async def patched(request: web.Request, rt: ResourceType, current: Obj) -> Obj:
    """``current`` with the request's JSON, merge or strategic merge patch applied."""
    ctype = request.content_type
    doc = await _patch_document(request)
    if ctype == "application/json-patch+json":
        result = json_patch(current, doc)
    elif ctype == "application/merge-patch+json":
        if not isinstance(doc, dict):
            raise ApiError(400, "a merge patch must be an object", reason="BadRequest")
        result = merge_patch(current, doc)
    elif ctype == SMP:
        if rt.key not in _BUILTIN:
            raise ApiError(
                415,
                "strategic merge patch is not supported for custom resources; use a merge or JSON patch",
                reason="UnsupportedMediaType",
            )
        try:
            result = strategic_merge(current, doc, schema_for(rt.key))
        except SmpError as exc:
            raise ApiError(400, str(exc), reason="BadRequest") from None
    else:
        raise ApiError(
            415, f"the patch content type {ctype!r} is not supported", reason="UnsupportedMediaType"
        )
    if not isinstance(result, dict):
        raise ApiError(422, "the patched object is not an object", reason="Invalid")
    return result


async def patch(
    state: ClusterState, request: web.Request, rt: ResourceType, namespace: str, name: str, ctx: WriteContext
) -> tuple[Obj, bool]:
    """Patch (or, for apply, create) an object; the result and whether it was created."""
    is_apply = request.content_type == APPLY
    if is_apply and not request.query.get("fieldManager"):
        raise ApiError.invalid(
            "PatchOptions.meta.k8s.io", "", "fieldManager: Required value: is required for apply patch"
        )
    current = state.store.get(rt, namespace, name) if state.store.exists(rt, namespace, name) else None
    if current is None and not is_apply:
        raise ApiError.not_found(rt.plural, name, rt.group)
    if is_apply:
        result = _applied(rt, namespace, name, current, await _patch_document(request), ctx)
    else:
        assert current is not None
        result = await patched(request, rt, current)
    if current is None:
        return create(state, rt, namespace, result, ctx, track=not is_apply), True
    meta = result.get("metadata")
    if isinstance(meta, dict) and meta.get("resourceVersion") is None:
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
    return update(state, rt, namespace, name, result, ctx, track=not is_apply), False


def _applied(
    rt: ResourceType, namespace: str, name: str, current: Obj | None, doc: Any, ctx: WriteContext
) -> Obj:
    """The object after a server-side apply of ``doc`` by ``ctx.manager``."""
    if not isinstance(doc, dict):
        raise ApiError(400, "an apply configuration must be an object", reason="BadRequest")
    check_identity(rt, namespace, doc)
    for field in ("apiVersion", "kind"):
        if not doc.get(field):
            raise ApiError(400, f"{field} must be set in an apply configuration", reason="BadRequest")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise ApiError(400, "metadata must be an object in an apply configuration", reason="BadRequest")
    if meta.get("name") not in (None, name):
        raise ApiError(400, "the name of the object does not match the name on the URL", reason="BadRequest")
    if meta.get("managedFields") is not None:
        raise ApiError(
            400, "metadata.managedFields must be nil in an apply configuration", reason="BadRequest"
        )
    sent_rv = meta.get("resourceVersion")
    if current is not None and sent_rv and str(sent_rv) != current["metadata"]["resourceVersion"]:
        raise ApiError(
            409,
            f'Operation cannot be fulfilled on {rt.plural} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
            reason="Conflict",
        )
    request = fieldmanager.ApplyRequest(
        ctx.manager, ctx.force, rt.group_version, schema_for(rt.key), "status" in rt.subresources
    )
    try:
        result = fieldmanager.apply(current, doc, request, ctx.now)
    except SmpError as exc:
        raise ApiError(400, str(exc), reason="BadRequest") from None
    result.setdefault("metadata", {})["name"] = name
    return result

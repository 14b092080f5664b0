"""Compact JSON for tool results: no managedFields, no last-applied blobs, bounded size."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from kom_async.config.urls import redact_url
from kom_async.mcp.results import EventLine, NamespaceLine, ObjectRef, PodLine

Obj = dict[str, Any]

MAX_LIST_LIMIT = 100
"""Most objects one list call returns; callers page with ``continue`` for more."""

MAX_TEXT_CHARS = 64_000
"""Most characters of log text one call returns (the newest lines are kept)."""

MAX_RESULT_CHARS = 256_000
"""Above this many characters a list page is fetched again with fewer objects."""

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def slim(obj: Any) -> Any:
    """A copy of a Kubernetes object without ``metadata.managedFields`` and last-applied noise."""
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and _LAST_APPLIED in annotations:
            rest = {k: v for k, v in annotations.items() if k != _LAST_APPLIED}
            if rest:
                meta["annotations"] = rest
            else:
                meta.pop("annotations")
        out["metadata"] = meta
    return out


def hide_secrets(obj: Any, kind: str | None = None) -> Any:
    """A Secret (``kind`` names the kind of a list item that carries none) with the values of
    ``data`` and ``stringData`` replaced by their size, keys kept, and its last-applied annotation
    (which holds the same data) hidden too; anything else unchanged."""
    if not isinstance(obj, dict) or (obj.get("kind") or kind) != "Secret":
        return obj
    out = dict(obj)
    for field, encoded in (("data", True), ("stringData", False)):
        values = out.get(field)
        if isinstance(values, dict):
            out[field] = {k: _size_note(v, encoded) for k, v in values.items()}
        elif values is not None:
            out[field] = _size_note(values, False)
    meta = out.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(meta, dict) and isinstance(annotations, dict) and _LAST_APPLIED in annotations:
        note = _size_note(annotations[_LAST_APPLIED], False)
        out["metadata"] = dict(meta, annotations=dict(annotations, **{_LAST_APPLIED: note}))
    return out


def _size_note(value: Any, encoded: bool) -> str:
    """``<redacted: N bytes>`` for a Secret value (base64 ``data`` counts its decoded bytes)."""
    text = value if isinstance(value, str) else json.dumps(value)
    size = len(text.encode())
    if encoded:
        try:
            size = len(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            pass
    return f"<redacted: {size} bytes>"


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (a server URL may carry basic-auth credentials)."""
    return redact_url(url)


def dumps(value: Any) -> str:
    """Compact JSON text (no spaces; non-JSON values such as datetimes become strings)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def compact(value: Any) -> str:
    """``dumps`` of ``value`` with every Kubernetes object in it slimmed."""
    if isinstance(value, list):
        return dumps([slim(v) for v in value])
    return dumps(slim(value))


def tail_text(text: str, limit: int = MAX_TEXT_CHARS) -> tuple[str, bool]:
    """The last ``limit`` characters of ``text`` starting at a line, and whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text[-limit:]
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]
    return cut, True


def iso(value: datetime | None) -> str | None:
    """ISO 8601 text of a datetime, or None."""
    return value.isoformat() if value is not None else None


def ref(obj: Any, fallback_name: str | None = None) -> ObjectRef:
    """kind/namespace/name (and resourceVersion) of an object the server answered with."""
    if not isinstance(obj, dict):
        return {"name": fallback_name}
    meta = obj.get("metadata") or {}
    ref: ObjectRef = {"kind": obj.get("kind"), "name": meta.get("name") or fallback_name}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if obj.get("kind") != "Status" and meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    return ref


def status_word(answer: Obj) -> str:
    """One word for a delete answer: Success, Terminating (finalizers) or Deleted."""
    if answer.get("kind") == "Status":
        return str(answer.get("status") or "Success")
    if (answer.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return "Deleted"


def mentions(event: Obj, obj: Obj) -> bool:
    """True when ``event`` is about ``obj`` (servers may ignore the field selector)."""
    involved = event.get("involvedObject") or {}
    meta = obj.get("metadata") or {}
    return involved.get("name") == meta.get("name") and involved.get("kind") in (None, obj.get("kind"))


def event_line(event: Obj) -> EventLine:
    """The columns of ``kubectl get events`` for one event."""
    involved = event.get("involvedObject") or {}
    meta = event.get("metadata") or {}
    return {
        "namespace": meta.get("namespace"),
        "type": event.get("type"),
        "reason": event.get("reason"),
        "object": f"{involved.get('kind', '?')}/{involved.get('name', '?')}",
        "message": event.get("message"),
        "count": event.get("count"),
        "last_seen": event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp"),
    }


def namespace_line(ns: Obj) -> NamespaceLine:
    """Name, phase and labels of one namespace."""
    meta = ns.get("metadata") or {}
    phase = (ns.get("status") or {}).get("phase")
    return {"name": meta.get("name"), "phase": phase, "labels": meta.get("labels") or {}}


def pod_line(pod: Obj) -> PodLine:
    """The columns of ``kubectl get pods -o wide`` (plus images and labels) for one pod."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "phase": status.get("phase"),
        "ready": f"{ready}/{len(spec.get('containers') or statuses)}",
        "restarts": sum(int(s.get("restartCount") or 0) for s in statuses),
        "node": spec.get("nodeName"),
        "ip": status.get("podIP"),
        "images": [c.get("image") for c in spec.get("containers") or []],
        "labels": meta.get("labels") or {},
        "created": meta.get("creationTimestamp"),
    }

"""``Accept: ...;as=Table`` answers: the columns ``kubectl get`` prints for the lab's types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from kom_async.lab.resources import ResourceType

Obj = dict[str, Any]


def wants_table(request: web.Request) -> bool:
    """Whether the client's first Accept choice is a Table (kubectl get does this)."""
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept.split(",")[0]


def _age(ts: str | None, now: datetime) -> str:
    if not ts:
        return "<unknown>"
    try:
        then = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=now.tzinfo)
    except ValueError:
        return "<unknown>"
    secs = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def table(rt: ResourceType, items: list[Obj], resource_version: str, now: datetime) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``items`` with the columns kubectl shows for ``rt``."""
    columns = [("Name", "string", "name")]
    if rt.key == ("", "pods"):
        columns += [("Ready", "string", ""), ("Status", "string", ""), ("Restarts", "integer", "")]
    elif rt.key == ("apps", "deployments"):
        columns += [("Ready", "string", ""), ("Up-to-date", "integer", ""), ("Available", "integer", "")]
    elif rt.key in (("", "nodes"), ("", "namespaces")):
        columns += [("Status", "string", "")]
    columns.append(("Age", "string", ""))
    rows = []
    for obj in items:
        meta = obj.get("metadata", {})
        cells: list[Any] = [meta.get("name", "")]
        status = obj.get("status") or {}
        if rt.key == ("", "pods"):
            cs = status.get("containerStatuses") or []
            ready = sum(1 for c in cs if c.get("ready"))
            cells += [
                f"{ready}/{len(cs)}",
                status.get("phase", "Unknown"),
                sum(c.get("restartCount", 0) for c in cs),
            ]
        elif rt.key == ("apps", "deployments"):
            want = (obj.get("spec") or {}).get("replicas", 0)
            cells += [
                f"{status.get('readyReplicas', 0)}/{want}",
                status.get("updatedReplicas", 0),
                status.get("availableReplicas", 0),
            ]
        elif rt.key == ("", "nodes"):
            sched = ",SchedulingDisabled" if (obj.get("spec") or {}).get("unschedulable") else ""
            cells += ["Ready" + sched]
        elif rt.key == ("", "namespaces"):
            cells += [status.get("phase", "Active")]
        cells.append(_age(meta.get("creationTimestamp"), now))
        partial = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
        }
        rows.append({"cells": cells, "object": partial})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": n, "type": t, "format": f, "description": "", "priority": 0} for n, t, f in columns
        ],
        "rows": rows,
    }

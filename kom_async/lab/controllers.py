"""The status the workload controllers would report, written at once since the lab runs none.

Deployments get ``Available`` and ``Progressing`` conditions, Jobs ``SuccessCriteriaMet`` and
``Complete``; ReplicaSets, StatefulSets and DaemonSets get their replica counts (their real
controllers set no condition while all is well). ``kubectl wait --for=condition=Available`` and
``Query.wait("condition=Complete")`` therefore behave as on a healthy cluster.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

Obj = dict[str, Any]
DEPLOYMENTS = ("apps", "deployments")
REPLICASETS = ("apps", "replicasets")
STATEFULSETS = ("apps", "statefulsets")
DAEMONSETS = ("apps", "daemonsets")
JOBS = ("batch", "jobs")
WORKLOADS = frozenset({DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS, JOBS})
# the kinds whose controller writes status.observedGeneration (a Job's does not)
OBSERVES_GENERATION = frozenset({DEPLOYMENTS, REPLICASETS, STATEFULSETS, DAEMONSETS})
_NODES = 2  # a DaemonSet runs one pod per lab node


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _template_hash(obj: Obj) -> str:
    template = (obj.get("spec") or {}).get("template") or {}
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _conditions(old: Any, now: datetime, *wanted: tuple[str, str, str]) -> list[Obj]:
    """Conditions ``(type, reason, message)``, all ``True``; a kept one keeps its transition time."""
    before = {c.get("type"): c for c in old if isinstance(c, dict)} if isinstance(old, list) else {}
    out = []
    for type_, reason, message in wanted:
        prior = before.get(type_) or {}
        since = prior.get("lastTransitionTime") if prior.get("status") == "True" else None
        out.append(
            {
                "type": type_,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastUpdateTime": _stamp(now),
                "lastTransitionTime": since or _stamp(now),
            }
        )
    return out


def _deployment(obj: Obj, status: Obj, now: datetime) -> None:
    n = obj["spec"].setdefault("replicas", 1)
    name = obj["metadata"].get("name", "")
    status.update(replicas=n, readyReplicas=n, availableReplicas=n, updatedReplicas=n)
    status["unavailableReplicas"] = 0
    status["conditions"] = _conditions(
        status.get("conditions"),
        now,
        ("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        (
            "Progressing",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}-{_template_hash(obj)}" has successfully progressed.',
        ),
    )


def _job(obj: Obj, status: Obj, now: datetime) -> None:
    spec = obj["spec"]
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    status.setdefault("startTime", _stamp(now))
    status.setdefault("completionTime", _stamp(now))
    status.update(succeeded=spec["completions"], active=0, ready=0, terminating=0)
    status["conditions"] = _conditions(
        status.get("conditions"),
        now,
        ("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods"),
        ("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
    )


def complete_workload(key: tuple[str, str], obj: Obj, now: datetime) -> None:
    """Set ``obj``'s status as its controller would once every pod runs (``key``: group, plural)."""
    status = obj.setdefault("status", {})
    if not isinstance(status, dict):
        status = obj["status"] = {}
    if key == DEPLOYMENTS:
        _deployment(obj, status, now)
    elif key == JOBS:
        _job(obj, status, now)
    elif key == DAEMONSETS:
        status.update(
            currentNumberScheduled=_NODES,
            desiredNumberScheduled=_NODES,
            numberAvailable=_NODES,
            numberMisscheduled=0,
            numberReady=_NODES,
            updatedNumberScheduled=_NODES,
        )
    else:  # ReplicaSet, StatefulSet
        n = obj["spec"].setdefault("replicas", 1)
        status.update(replicas=n, readyReplicas=n, availableReplicas=n)
        if key == REPLICASETS:
            status["fullyLabeledReplicas"] = n
        else:
            revision = f"{obj['metadata'].get('name', '')}-{_template_hash(obj)}"
            status.update(currentReplicas=n, updatedReplicas=n, currentRevision=revision)
            status.update(updateRevision=revision, collisionCount=0)
    gen = obj["metadata"].get("generation")
    if gen is not None and key in OBSERVES_GENERATION:
        status["observedGeneration"] = gen

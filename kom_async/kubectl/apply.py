"""``kubectl apply -f`` for multi-document YAML: create or update each object, in order.

Re-applying the same YAML updates the objects in place; it never creates duplicates,
because every document is addressed by its kind, namespace and name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from kom_async.config.yamlload import YAMLBoundError, load_all
from kom_async.errors import AlreadyExists, QueryError
from kom_async.kubectl._constants import Obj
from kom_async.kubectl.names import check_name, check_namespace
from kom_async.kubectl.query import Query


def load_documents(yaml_text: str) -> list[Obj]:
    """Parse multi-document YAML into objects; ``kind: List`` documents are flattened.

    Every object must have ``apiVersion``, ``kind`` and ``metadata.name``.
    """
    try:
        documents = [d for d in load_all(yaml_text) if d is not None]
    except YAMLBoundError as exc:
        raise QueryError(f"apply(): the YAML is refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise QueryError(f"apply(): the YAML does not parse: {exc}") from None
    except (ValueError, TypeError, RecursionError):
        raise QueryError("apply(): the YAML does not parse") from None
    objects: list[Obj] = []
    for index, doc in enumerate(documents, start=1):
        if not isinstance(doc, dict):
            raise QueryError(f"apply(): document {index} is not a mapping")
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            items = doc["items"]
        else:
            items = [doc]
        for item in items:
            _check(item, index)
            objects.append(item)
    return objects


def _check(obj: Any, index: int) -> None:
    if not isinstance(obj, dict):
        raise QueryError(f"apply(): document {index} holds an item that is not a mapping")
    missing = [key for key in ("apiVersion", "kind") if not obj.get(key)]
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        missing.append("metadata.name")
    if missing:
        what = obj.get("kind") or "object"
        raise QueryError(f"apply(): document {index} ({what}) needs {', '.join(missing)}")
    # every name is checked before the first document is sent, so a bad one applies nothing
    assert isinstance(meta, dict)
    check_name(meta["name"], what=f"apply(): document {index} metadata.name")
    if meta.get("namespace") is not None:
        check_namespace(meta["namespace"], what=f"apply(): document {index} metadata.namespace")


_SERVER_OWNED = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")


def _desired(obj: Obj) -> Obj:
    """The object as something to apply: no status and none of the server-owned metadata
    (so YAML exported from a cluster applies cleanly instead of conflicting)."""
    body = {k: v for k, v in obj.items() if k != "status"}
    body["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in _SERVER_OWNED}
    return body


async def apply_documents(
    select: Callable[[str, str, str], Query[Obj]],
    objects: list[Obj],
    *,
    field_manager: str,
    namespace: str | None,
    force: bool,
    server_side: bool,
    dry_run: bool = False,
) -> list[Obj]:
    """Apply ``objects`` one after another; return what the server stored for each.

    ``select(group, version, kind)`` builds the query for one document (``Kubectl.gvk``).
    """
    if namespace is not None:
        check_namespace(namespace, what="apply(namespace=...)")
    stored: list[Obj] = []
    for obj in objects:
        api_version = str(obj["apiVersion"])
        group, _, version = api_version.rpartition("/")
        query = select(group, version, str(obj["kind"])).name(str(obj["metadata"]["name"]))
        own_namespace = obj["metadata"].get("namespace")
        if own_namespace or namespace:
            query = query.namespace(str(own_namespace or namespace))
        body = _desired(obj)
        if server_side:
            result = await query.patch(
                body, "apply", field_manager=field_manager, force=force, dry_run=dry_run
            )
        else:
            try:
                result = await query.create(body, dry_run=dry_run)
            except AlreadyExists:
                result = await query.patch(body, "merge", field_manager=field_manager, dry_run=dry_run)
        stored.append(result)
    return stored

"""Request pieces several verbs share: ``dryRun``, ``DeleteOptions``, page sizes, kinds."""

from __future__ import annotations

from kom_async.errors import QueryError
from kom_async.kubectl._constants import LIST_PAGE_SIZE, Obj
from kom_async.kubectl.discovery import ResourceInfo
from kom_async.transport.rest import QueryParams


def dry_run_param(dry_run: bool) -> QueryParams:
    """``dryRun=All``: the server validates and answers as if it wrote, but stores nothing."""
    return [("dryRun", "All")] if dry_run else []


def delete_options(propagation_policy: str | None, grace_period_seconds: int | None) -> Obj:
    """The ``DeleteOptions`` body of a delete or delete-collection."""
    options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy is not None:
        options["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    return options


def checked_page_size(size: int | None) -> int:
    """Objects per list request: ``size``, or the default; QueryError unless a positive int."""
    if size is None:
        return LIST_PAGE_SIZE
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise QueryError(f"a page size must be a positive int, got {size!r}")
    return size


def filled(info: ResourceInfo, obj: Obj) -> Obj:
    """A plain object with ``apiVersion`` and ``kind`` (list items come without them)."""
    obj.setdefault("apiVersion", info.api_version)
    obj.setdefault("kind", info.kind)
    return obj

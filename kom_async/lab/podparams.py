"""Query parameters shared by the pod subresources (exec, log): flags and the container to use."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kom_async.lab.status import ApiError

Obj = dict[str, Any]
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"", "0", "f", "F", "false", "FALSE", "False"})


def query_flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter as Go's ``strconv.ParseBool`` reads it (absent: false)."""
    value = request.query.get(name, "")
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, f"invalid value for {name}: {value!r} is not a boolean", reason="BadRequest")


def pick_container(pod: Obj, wanted: str | None, pod_name: str) -> Obj:
    """The container a subresource request names (or the only one), else 400 like the API server."""
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]
    names = [str(c.get("name")) for c in containers]
    if not wanted:
        if len(containers) != 1:
            raise ApiError(
                400,
                f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(names)}]",
                reason="BadRequest",
            )
        return containers[0]
    for c in containers:
        if c.get("name") == wanted:
            return c
    raise ApiError(400, f"container {wanted} is not valid for pod {pod_name}", reason="BadRequest")


def query_int(request: web.Request, name: str) -> int | None:
    """An integer query parameter (absent or empty: None); anything else is a 400."""
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {value!r}", reason="BadRequest") from None

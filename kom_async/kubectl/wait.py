"""``kubectl wait`` on the fluent API: a condition, deletion or a JSONPath value, by watch.

Conditions are written as for ``kubectl wait --for``: ``"delete"``,
``"condition=Available"`` (``=False`` and other values too), and
``"jsonpath={.status.phase}=Running"`` (without ``=value``: until the field exists).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kom_async.errors import NotFound, QueryError, WaitTimeout
from kom_async.kubectl._constants import Obj
from kom_async.kubectl.discovery import ResourceInfo
from kom_async.kubectl.watch import Watch, WatchFeed, list_all


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed ``--for`` condition: ``met(obj)`` says whether one object satisfies it."""

    text: str
    met: Callable[[Obj], bool]
    delete: bool = False


def parse_condition(text: str) -> Condition:
    """Parse a ``kubectl wait --for`` expression; QueryError says what is accepted."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError(_USAGE)
    text = text.strip()
    kind, _, rest = text.partition("=")
    kind = kind.strip().lower()
    if kind == "delete" and not rest:
        return Condition(text, lambda obj: False, delete=True)
    if kind == "condition" and rest:
        name, _, value = rest.partition("=")
        if not name.strip():
            raise QueryError(f"{text!r}: name the condition, e.g. 'condition=Ready'")
        return Condition(text, _condition_check(name.strip(), value.strip() or "True"))
    if kind == "jsonpath" and rest:
        path, wanted = _split_jsonpath(rest)
        return Condition(text, _jsonpath_check(_parse_path(path, text), wanted))
    raise QueryError(f"{text!r}: {_USAGE}")


_USAGE = (
    "wait() takes 'delete', 'condition=<type>[=<status>]' or 'jsonpath={<path>}[=<value>]', "
    "e.g. 'condition=Available' or 'jsonpath={.status.phase}=Running'"
)


def _condition_check(name: str, value: str) -> Callable[[Obj], bool]:
    def met(obj: Obj) -> bool:
        status = obj.get("status")
        status = status if isinstance(status, dict) else {}
        generation = (obj.get("metadata") or {}).get("generation")
        observed = status.get("observedGeneration")
        if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
            return False  # the status describes an older spec, like kubectl checks
        for cond in status.get("conditions") or []:
            if not isinstance(cond, dict) or str(cond.get("type", "")).lower() != name.lower():
                continue
            seen = cond.get("observedGeneration")
            if isinstance(generation, int) and isinstance(seen, int) and seen < generation:
                return False
            return str(cond.get("status", "")).lower() == value.lower()
        return False

    return met


def _split_jsonpath(rest: str) -> tuple[str, str | None]:
    """``{.a.b}=v`` -> (".a.b", "v"); braces optional; no ``=`` -> value None."""
    rest = rest.strip()
    if rest.startswith("{"):
        end = rest.find("}")
        if end < 0:
            raise QueryError(f"jsonpath {rest!r}: missing '}}'")
        path, tail = rest[1:end], rest[end + 1 :]
        if tail and not tail.startswith("="):
            raise QueryError(f"jsonpath {rest!r}: expected '=' after '}}'")
        return path.strip(), (tail[1:] if tail else None)
    path, sep, value = rest.partition("=")
    return path.strip(), (value if sep else None)


_STEP = re.compile(
    r"""\.(?P<field>(?:[^.\[\\]|\\.)+)               # .name (\. escapes a dot)
      | \[(?P<index>-?\d+)\]                         # [0]
      | \[(?P<q>['"])(?P<key>.*?)(?P=q)\]            # ['key.with.dots']
      | \[\?\(@\.(?P<ffield>[\w.-]+)\s*==\s*(?P<fq>['"])(?P<fval>.*?)(?P=fq)\)\]  # [?(@.type=="Ready")]
    """,
    re.X,
)

Step = tuple[str, Any]


def _parse_path(path: str, text: str) -> list[Step]:
    steps: list[Step] = []
    pos = 0
    if not path.startswith((".", "[")):
        raise QueryError(f"{text!r}: a JSONPath starts with '.', e.g. {{.status.phase}}")
    while pos < len(path):
        match = _STEP.match(path, pos)
        if match is None:
            raise QueryError(
                f"{text!r}: unsupported JSONPath at {path[pos:]!r} (supported: .field, [n], "
                "['key'], [?(@.field==\"value\")])"
            )
        if match.group("field") is not None:
            steps.append(("key", re.sub(r"\\(.)", r"\1", match.group("field"))))
        elif match.group("index") is not None:
            steps.append(("index", int(match.group("index"))))
        elif match.group("key") is not None:
            steps.append(("key", match.group("key")))
        else:
            steps.append(("filter", (match.group("ffield").split("."), match.group("fval"))))
        pos = match.end()
    return steps


_MISSING = object()


def _lookup(obj: Any, steps: list[Step]) -> Any:
    for op, arg in steps:
        if op == "key":
            obj = obj.get(arg, _MISSING) if isinstance(obj, dict) else _MISSING
        elif op == "index":
            obj = obj[arg] if isinstance(obj, list) and -len(obj) <= arg < len(obj) else _MISSING
        else:
            fields, want = arg
            obj = (
                next((item for item in obj if _render(_dig(item, fields)) == want), _MISSING)
                if (isinstance(obj, list))
                else _MISSING
            )
        if obj is _MISSING:
            return _MISSING
    return obj


def _dig(obj: Any, fields: list[str]) -> Any:
    for name in fields:
        obj = obj.get(name, _MISSING) if isinstance(obj, dict) else _MISSING
    return obj


def _render(value: Any) -> str | None:
    """A value as kubectl's JSONPath prints it (None when missing or null)."""
    if value is _MISSING or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _jsonpath_check(steps: list[Step], value: str | None) -> Callable[[Obj], bool]:
    def met(obj: Obj) -> bool:
        found = _render(_lookup(obj, steps))
        return found is not None if value is None else found == value

    return met


async def wait_for(
    feed: WatchFeed[Obj], info: ResourceInfo, check: Condition, *, timeout: float | None, name: str | None
) -> builtins.list[Obj]:
    """Wait until every object ``feed`` lists meets ``check``; see ``Query.wait``.

    Lists once (already met: done, no watch), then follows the watch from that list's
    resourceVersion. The objects that count are those listed at the start.
    """
    try:
        async with asyncio.timeout(timeout):
            return await _wait(feed, info, check, name)
    except TimeoutError:
        raise WaitTimeout(f"{feed.describe} did not meet {check.text!r} within {timeout} s") from None


async def _wait(
    feed: WatchFeed[Obj], info: ResourceInfo, check: Condition, name: str | None
) -> builtins.list[Obj]:
    items, rv = await list_all(feed.list_page, info)
    waiting: dict[tuple[str, str], Obj] = {_key(obj): feed.convert(info, obj) for obj in items}
    if not waiting:
        if check.delete:
            return []
        if name is not None:
            raise _not_found(feed, info, f'{info.plural} "{name}" not found', name)
        raise QueryError(f"wait(): nothing matches {feed.describe}")
    met: dict[tuple[str, str], Obj] = {}
    _settle(waiting, met, check)
    if not waiting:
        return list(met.values())
    watch = Watch(feed, resource_version=rv, timeout_seconds=None, send_initial=False, max_retries=5)
    async with watch as events:
        async for kind, obj in events:
            key = _key(obj)
            if key not in waiting and key not in met:
                continue  # only the objects that matched when the wait began count
            if kind == "DELETED":
                if not check.delete:
                    what = f"{info.kind} {key[1]!r} was deleted while waiting for {check.text!r}"
                    raise _not_found(feed, info, what, key[1])
                waiting.pop(key, None)
            elif not check.delete:
                met.pop(key, None)  # a condition can flip back: judge the newest version
                waiting[key] = obj
                _settle(waiting, met, check)
            if not waiting:
                return list(met.values())
    # the watch has no timeout of its own, so it only ends by raising; say so if it ever does
    raise QueryError(f"wait(): the watch of {feed.describe} ended")


def _settle(waiting: dict[tuple[str, str], Obj], met: dict[tuple[str, str], Obj], check: Condition) -> None:
    for key, obj in list(waiting.items()):
        if check.met(obj):
            met[key] = waiting.pop(key)


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _not_found(feed: WatchFeed[Obj], info: ResourceInfo, message: str, name: str) -> NotFound:
    target = feed.target(info)
    return NotFound(
        message, status_code=404, reason="NotFound", kind=info.kind, namespace=target.namespace, name=name
    )

"""List paging as the API server does it: ``limit``, ``continue`` tokens, consistent pages, 410.

A paged list is served from a snapshot taken at the first page's resourceVersion, so later pages
neither repeat nor miss objects while others write (etcd's MVCC read, in the real server). The
lab keeps the last :data:`MAX_SNAPSHOTS` snapshots; a token whose snapshot is gone or older than the
last compaction answers 410 Expired with an "inconsistent" token that continues from the current
state, as the real server does. A token that cannot be decoded answers 400.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kom_async.lab.resources import ResourceType
from kom_async.lab.status import ApiError
from kom_async.lab.store import ObjectStore, sort_key

Obj = dict[str, Any]
MAX_SNAPSHOTS = 32
TOKEN_VERSION = "meta.k8s.io/v1"
EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may "
    "show up in the list."
)


def encode_token(rv: int, start: str) -> str:
    """A continue token: the snapshot's resourceVersion and the key to start after."""
    raw = json.dumps({"v": TOKEN_VERSION, "rv": rv, "start": start}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[int, str]:
    """(resourceVersion, start key) of a token; 400 if it is not one."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        rv, start = data["rv"], data["start"]
        if data.get("v") != TOKEN_VERSION or not isinstance(rv, int) or not isinstance(start, str):
            raise ValueError("not a continue token of this server")
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"invalid continue token: {exc}", reason="BadRequest") from None
    return rv, start


@dataclass
class Page:
    """One page: items, the resourceVersion it was read at, the next token, how many remain."""

    items: list[Obj]
    rv: int
    token: str | None = None
    remaining: int = 0


@dataclass
class Pager:
    """Snapshots of lists being paged through, per type and resourceVersion."""

    snapshots: OrderedDict[tuple[tuple[str, str], int], list[Obj]] = field(default_factory=OrderedDict)

    def clear(self) -> None:
        """Forget every snapshot (a compaction): outstanding tokens now answer 410."""
        self.snapshots.clear()

    def page(
        self,
        store: ObjectStore,
        rt: ResourceType,
        namespace: str | None,
        match: Callable[[Obj], bool],
        limit: int | None,
        token: str | None,
    ) -> Page:
        """The next page of ``rt`` objects that ``match``, after ``token`` (first page if None)."""
        rv, start = (store.resource_version, "") if token is None else decode_token(token)
        if rv == -1:  # an inconsistent continuation: the current state, after the key
            rv, objs = store.resource_version, list(store.iter(rt))
        elif token is None:
            objs = list(store.iter(rt))
        else:
            snap = self.snapshots.get((rt.key, rv))
            if snap is None or rv < store.compacted_rv:
                err = ApiError(410, EXPIRED, reason="Expired")
                err.body["metadata"] = {"continue": encode_token(-1, start)}
                raise err
            objs = snap
        matched = [
            o
            for o in objs
            if (not namespace or not rt.namespaced or o["metadata"].get("namespace") == namespace)
            and sort_key(o) > start
            and match(o)
        ]
        if limit is None or limit <= 0 or len(matched) <= limit:
            return Page([copy.deepcopy(o) for o in matched], rv)
        if (rt.key, rv) not in self.snapshots:
            self.snapshots[(rt.key, rv)] = objs  # stored objects are replaced on write, never changed
            while len(self.snapshots) > MAX_SNAPSHOTS:
                self.snapshots.popitem(last=False)
        items = [copy.deepcopy(o) for o in matched[:limit]]
        return Page(items, rv, encode_token(rv, sort_key(items[-1])), len(matched) - limit)

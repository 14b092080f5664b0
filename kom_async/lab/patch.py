"""JSON patch (RFC 6902, the ``jsonpatch`` library) and JSON merge patch (RFC 7386,
``json-merge-patch``), with the API server's answers: a malformed patch document is 400, a
patch that cannot be applied (a failed ``test``, a missing path) is 422.
"""

from __future__ import annotations

import copy
from typing import Any

import json_merge_patch
import jsonpatch
import jsonpointer

from kom_async.errors import KomError


class PatchError(KomError):
    """A patch document is malformed (``code`` 400) or cannot be applied (``code`` 422)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    return json_merge_patch.merge(copy.deepcopy(target), copy.deepcopy(patch))


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 operations applied to a copy of ``target``."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise PatchError("a JSON patch must be a list of operation objects")
    try:
        patch = jsonpatch.JsonPatch(ops)
    except (jsonpatch.InvalidJsonPatch, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
        raise PatchError(f"invalid JSON patch: {exc}") from None
    try:
        return patch.apply(copy.deepcopy(target))
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchError(f"the JSON patch test failed: {exc}", 422) from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
        raise PatchError(f"the JSON patch cannot be applied: {exc}", 422) from None

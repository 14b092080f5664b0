"""Names the fluent API's modules share: namespaces, patch content types, page size."""

from __future__ import annotations

from typing import Any, Literal

Obj = dict[str, Any]
PatchType = Literal["merge", "strategic", "json", "apply"]
Propagation = Literal["Foreground", "Background", "Orphan"]

ALL_NAMESPACES = "*"
"""Pass to ``.namespace()`` to list or watch across all namespaces."""

DEFAULT_NAMESPACE = "default"
"""Where namespaced objects go when neither the query nor the object names a namespace."""

DEFAULT_FIELD_MANAGER = "kom-async"

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

LIST_PAGE_SIZE = 500
"""Objects asked for per list request when the caller does not say."""

"""The fluent resource API: ``Kubectl`` (one per cluster), ``Query`` and ``Watch``.

Layering inside the package, bottom up: ``_constants``, ``selectors``, ``models``,
``discovery`` → ``context`` → ``watch`` → ``query`` → ``apply`` → ``facade`` (``Kubectl``).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from kom_async.kubectl import watch as _watch
from kom_async.kubectl._constants import ALL_NAMESPACES, PatchType
from kom_async.kubectl._constants import DEFAULT_FIELD_MANAGER as DEFAULT_FIELD_MANAGER  # old path
from kom_async.kubectl._constants import DEFAULT_NAMESPACE as DEFAULT_NAMESPACE  # old path
from kom_async.kubectl.facade import Kubectl
from kom_async.kubectl.logs import LogStream
from kom_async.kubectl.pod import PodQuery
from kom_async.kubectl.pod_exec import ExecResult, ExecSession
from kom_async.kubectl.query import Page, Query
from kom_async.kubectl.watch import _WATCH_CYCLE as _WATCH_CYCLE
from kom_async.kubectl.watch import _WATCH_GRACE as _WATCH_GRACE
from kom_async.kubectl.watch import Watch

__all__ = [
    "ALL_NAMESPACES",
    "ExecResult",
    "ExecSession",
    "Kubectl",
    "LogStream",
    "Page",
    "PatchType",
    "PodQuery",
    "Query",
    "Watch",
]

_WATCH_KNOBS = frozenset({"_WATCH_CYCLE", "_WATCH_GRACE"})


class _Package(types.ModuleType):
    """Setting ``kom_async.kubectl._WATCH_CYCLE``/``_WATCH_GRACE`` (as tests that shorten the
    watch's stream recycling did when this was one module) sets them where the watch reads them."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _WATCH_KNOBS:
            setattr(_watch, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

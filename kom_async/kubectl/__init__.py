"""The fluent resource API: ``Kubectl`` (one per cluster), ``Query`` and ``Watch``.

Layering inside the package, bottom up: ``_constants``, ``selectors``, ``models``,
``discovery`` → ``context`` → ``watch`` → ``query`` → ``apply`` → ``facade`` (``Kubectl``).
Every name in ``__all__`` is also importable from ``kom_async``.
"""

from __future__ import annotations

from kom_async.kubectl._constants import ALL_NAMESPACES, PatchType
from kom_async.kubectl.discovery import Discovery, ResourceInfo
from kom_async.kubectl.facade import Kubectl
from kom_async.kubectl.logs import LogStream
from kom_async.kubectl.pod import PodQuery
from kom_async.kubectl.pod_exec import ExecResult, ExecSession
from kom_async.kubectl.query import Page, Query
from kom_async.kubectl.watch import Watch

__all__ = [
    "ALL_NAMESPACES",
    "Discovery",
    "ExecResult",
    "ExecSession",
    "Kubectl",
    "LogStream",
    "Page",
    "PatchType",
    "PodQuery",
    "Query",
    "ResourceInfo",
    "Watch",
]

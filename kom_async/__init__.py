"""kom-async: many Kubernetes clusters from one asyncio process, EKS tokens handled for you.

This is the one list of public names: the registry, the fluent API, tokens, the policies,
limits and every error; every name of ``kom_async.clusters``, ``kom_async.kubectl`` and
``kom_async.errors`` is here too (ARCHITECTURE.md, "Public surface", and
tests/test_architecture.py keep the three in agreement). Everything except the errors is
imported lazily, so that light entry points (``kom-async eks get-token``) do not pay for
importing kubernetes_asyncio.
"""

from __future__ import annotations

import importlib

from kom_async.errors import (
    AlreadyExists,
    ClusterExistsError,
    ClusterNotFound,
    ClusterUnreachable,
    Conflict,
    EKSAuthError,
    EKSAuthErrorKind,
    ExecError,
    ExecNotAllowed,
    ExecPluginError,
    ExecTimeout,
    Forbidden,
    Invalid,
    InvalidArgument,
    InvalidName,
    KomError,
    KubeconfigError,
    KubeconfigRefused,
    KubernetesError,
    NotFound,
    QueryError,
    RegistryClosed,
    ResponseTooLarge,
    Unauthorized,
    WaitTimeout,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (CLI start-up time)
if TYPE_CHECKING:
    from typing import Any

    from kom_async.auth.gcpause import gc_quiet
    from kom_async.auth.provider import AuthStats, TokenProvider
    from kom_async.auth.shared import SharedTokenStore
    from kom_async.auth.timing import RefreshPolicy
    from kom_async.auth.token import Token, TokenSource
    from kom_async.clusters import Clusters, RegisterOptions, TokenSourceChoice
    from kom_async.config.limits import Limits
    from kom_async.config.policy import ExecPolicy, TrustPolicy
    from kom_async.connection import Cluster
    from kom_async.kubectl import (
        ALL_NAMESPACES,
        Discovery,
        ExecResult,
        ExecSession,
        Kubectl,
        LogStream,
        Page,
        PatchType,
        PodQuery,
        Query,
        ResourceInfo,
        Watch,
    )
    from kom_async.transport.pool import PoolLimits
    from kom_async.transport.retry import RetryPolicy

__all__ = [
    "ALL_NAMESPACES",
    "AlreadyExists",
    "AuthStats",
    "Cluster",
    "ClusterExistsError",
    "ClusterNotFound",
    "ClusterUnreachable",
    "Clusters",
    "Conflict",
    "Discovery",
    "EKSAuthError",
    "EKSAuthErrorKind",
    "ExecError",
    "ExecNotAllowed",
    "ExecPluginError",
    "ExecPolicy",
    "ExecResult",
    "ExecSession",
    "ExecTimeout",
    "Forbidden",
    "Invalid",
    "InvalidArgument",
    "InvalidName",
    "KomError",
    "KubeconfigError",
    "KubeconfigRefused",
    "Kubectl",
    "KubernetesError",
    "Limits",
    "LogStream",
    "NotFound",
    "Page",
    "PatchType",
    "PodQuery",
    "PoolLimits",
    "Query",
    "QueryError",
    "RefreshPolicy",
    "RegisterOptions",
    "RegistryClosed",
    "ResourceInfo",
    "ResponseTooLarge",
    "RetryPolicy",
    "SharedTokenStore",
    "Token",
    "TokenProvider",
    "TokenSource",
    "TokenSourceChoice",
    "TrustPolicy",
    "Unauthorized",
    "WaitTimeout",
    "Watch",
    "gc_quiet",
]
__version__ = "0.1.0"

_HOMES = {
    "Clusters": "kom_async.clusters",
    "Cluster": "kom_async.connection",
    "RegisterOptions": "kom_async.clusters",
    "TokenSourceChoice": "kom_async.clusters",
    "ALL_NAMESPACES": "kom_async.kubectl",
    "Discovery": "kom_async.kubectl",
    "ExecResult": "kom_async.kubectl",
    "ExecSession": "kom_async.kubectl",
    "Kubectl": "kom_async.kubectl",
    "LogStream": "kom_async.kubectl",
    "Page": "kom_async.kubectl",
    "PatchType": "kom_async.kubectl",
    "PodQuery": "kom_async.kubectl",
    "Query": "kom_async.kubectl",
    "ResourceInfo": "kom_async.kubectl",
    "Watch": "kom_async.kubectl",
    "AuthStats": "kom_async.auth.provider",
    "Token": "kom_async.auth.token",
    "TokenProvider": "kom_async.auth.provider",
    "TokenSource": "kom_async.auth.token",
    "ExecPolicy": "kom_async.config.policy",
    "TrustPolicy": "kom_async.config.policy",
    "Limits": "kom_async.config.limits",
    "RefreshPolicy": "kom_async.auth.timing",
    "RetryPolicy": "kom_async.transport.retry",
    "PoolLimits": "kom_async.transport.pool",
    "gc_quiet": "kom_async.auth.gcpause",
    "SharedTokenStore": "kom_async.auth.shared",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kom_async' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

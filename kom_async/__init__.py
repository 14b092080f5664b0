"""kom-async: many Kubernetes clusters from one asyncio process, EKS tokens handled for you.

Public names are imported lazily so that light entry points (``kom-async eks get-token``)
do not pay for importing kubernetes_asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kom_async.auth.provider import TokenProvider
    from kom_async.auth.token import Token
    from kom_async.cluster import Cluster
    from kom_async.clusters import Clusters
    from kom_async.kubectl import Kubectl

__all__ = ["Cluster", "Clusters", "Kubectl", "Token", "TokenProvider"]
__version__ = "0.1.0"

_HOMES = {
    "Clusters": "kom_async.clusters",
    "Cluster": "kom_async.cluster",
    "Kubectl": "kom_async.kubectl",
    "Token": "kom_async.auth.token",
    "TokenProvider": "kom_async.auth.provider",
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

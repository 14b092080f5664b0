"""The embedded offline EKS lab: moto for AWS, an HTTPS Kubernetes API that verifies tokens.

``async with EKSLab() as lab: cluster = await lab.create_cluster("c1")`` gives a cluster
that ``aws eks get-token``, kubectl and kubernetes_asyncio all work against, offline.

The names load on first use (PEP 562): importing ``kom_async.lab.pytest_plugin`` (always
registered with pytest) or ``kom_async.lab.cli`` must not need the ``lab`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kom_async.lab.accounts import LabAccount, LabError
    from kom_async.lab.aws import AWSCredential
    from kom_async.lab.clock import FakeClock
    from kom_async.lab.faults import Fault
    from kom_async.lab.lab import EKSLab, LabCluster
    from kom_async.lab.state import ClusterStats

__all__ = [
    "AWSCredential",
    "ClusterStats",
    "EKSLab",
    "FakeClock",
    "Fault",
    "LabAccount",
    "LabCluster",
    "LabError",
]

_HOMES = {
    "AWSCredential": "kom_async.lab.aws",
    "ClusterStats": "kom_async.lab.state",
    "EKSLab": "kom_async.lab.lab",
    "FakeClock": "kom_async.lab.clock",
    "Fault": "kom_async.lab.faults",
    "LabAccount": "kom_async.lab.accounts",
    "LabCluster": "kom_async.lab.lab",
    "LabError": "kom_async.lab.accounts",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kom_async.lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

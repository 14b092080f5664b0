"""The embedded offline EKS lab: moto for AWS, an HTTPS Kubernetes API that verifies tokens.

``async with EKSLab() as lab: cluster = await lab.create_cluster("c1")`` gives a cluster
that ``aws eks get-token``, kubectl and kubernetes_asyncio all work against, offline.
"""

from __future__ import annotations

from kom_async.lab.accounts import LabAccount, LabError
from kom_async.lab.clock import FakeClock
from kom_async.lab.faults import Fault
from kom_async.lab.lab import EKSLab, LabCluster
from kom_async.lab.state import ClusterStats

__all__ = ["ClusterStats", "EKSLab", "FakeClock", "Fault", "LabAccount", "LabCluster", "LabError"]

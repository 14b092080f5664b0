"""EKS, the public face: read an EKS kubeconfig's intent and mint tokens natively.

``parse_eks_config`` turns a kubeconfig whose user runs ``aws eks get-token`` or
``aws-iam-authenticator token`` into an ``EKSAuthConfig``; ``get_token`` mints a token
in-process, no subprocess. The code lives in ``kom_async.auth.eks``; this module only
re-exports it, lazily where importing would be heavy (aiobotocore, PyYAML), so that
``kom-async eks get-token`` starts lean.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from kom_async.config.eks import (
    AWSIdentity,
    EKSAuthConfig,
    eks_config_from_exec,
    is_eks_config,
    parse_eks_config,
    region_from_server,
)

if TYPE_CHECKING:
    from kom_async.auth.eks.discovery import DiscoveredCluster, DiscoveryFailure, DiscoveryResult
    from kom_async.auth.eks.native import get_token
    from kom_async.config.kubeconfig import ExecConfig

__all__ = [
    "AWSIdentity",
    "DiscoveredCluster",
    "DiscoveryFailure",
    "DiscoveryResult",
    "EKSAuthConfig",
    "ExecConfig",
    "eks_config_from_exec",
    "get_token",
    "is_eks_config",
    "parse_eks_config",
    "region_from_server",
]

_LAZY = {
    "ExecConfig": "kom_async.config.kubeconfig",
    "get_token": "kom_async.auth.eks.native",
    "DiscoveredCluster": "kom_async.auth.eks.discovery",
    "DiscoveryFailure": "kom_async.auth.eks.discovery",
    "DiscoveryResult": "kom_async.auth.eks.discovery",
}


def __getattr__(name: str) -> object:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value

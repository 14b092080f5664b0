"""Recognise exec plugins that mint EKS tokens (``aws eks get-token``, aws-iam-authenticator)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kom_async.kubeconfig import ExecConfig

__all__ = ["looks_like_eks"]

_AWS_COMMANDS = {"aws", "aws.exe", "aws.cmd"}
_AUTHENTICATOR_COMMANDS = {"aws-iam-authenticator", "aws-iam-authenticator.exe"}


def looks_like_eks(exec_config: ExecConfig) -> bool:
    """True for ``aws ... eks get-token ...`` and ``aws-iam-authenticator token ...``."""
    command = os.path.basename(exec_config.command)
    args = list(exec_config.args)
    if command in _AWS_COMMANDS:
        return any(a == "eks" and args[i + 1 : i + 2] == ["get-token"] for i, a in enumerate(args))
    if command in _AUTHENTICATOR_COMMANDS:
        return "token" in args
    return False

"""Recognise exec plugins that mint EKS tokens (``aws eks get-token``, aws-iam-authenticator).

The one place this is decided: kubeconfig loading marks such users ``eks-exec``, the exec
policy lets them run, and ``auth.eks.config`` parses their arguments.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

AWS_COMMANDS = frozenset({"aws", "aws.exe", "aws.cmd"})
AUTHENTICATOR_COMMANDS = frozenset({"aws-iam-authenticator", "aws-iam-authenticator.exe"})


class _Exec(Protocol):
    @property
    def command(self) -> str: ...
    @property
    def args(self) -> Sequence[str]: ...


def is_aws_get_token(args: Sequence[str]) -> bool:
    """True when an ``aws`` argv runs ``eks get-token``."""
    return any(a == "eks" and list(args[i + 1 : i + 2]) == ["get-token"] for i, a in enumerate(args))


def looks_like_eks(exec_config: _Exec) -> bool:
    """True for ``aws ... eks get-token ...`` and ``aws-iam-authenticator token ...``."""
    command = os.path.basename(exec_config.command)
    args = [str(a) for a in exec_config.args]
    if command in AWS_COMMANDS:
        return is_aws_get_token(args)
    if command in AUTHENTICATOR_COMMANDS:
        return "token" in args
    return False

"""What the ``register_*`` calls accept: the shared keyword options and their checks.

Wrong types and values fail here, typed (``InvalidArgument``), before any work is done.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypedDict

from kom_async._connect import TokenSourceChoice
from kom_async.errors import EKSAuthError, EKSAuthErrorKind, InvalidArgument

if TYPE_CHECKING:
    from kom_async.config.limits import Limits
    from kom_async.config.policy import ExecPolicy, TrustChoice


class RegisterOptions(TypedDict, total=False):
    """Keyword options every ``register_*by_*`` call takes."""

    replace: bool
    """Replace a cluster already registered under the id (default False: ClusterExistsError)."""
    exec_timeout: float
    """Seconds an exec plugin may run before it is killed (default 30)."""
    token_source: TokenSourceChoice
    """For EKS kubeconfigs: "auto" (default; native when possible), "native" or "exec"."""
    exec_policy: ExecPolicy | None
    """Restrict what this kubeconfig may run (untrusted input); default: the registry's."""
    verify: bool
    """Check before returning that AWS accepts the credentials and the cluster the token."""
    limits: Limits | None
    """How much this cluster's server may send (default: the registry's, else by trust)."""
    trust: TrustChoice | None
    """Whose kubeconfig this is ("trusted", "untrusted" or a ``TrustPolicy``); default: the registry's."""


def check_register_options(options: RegisterOptions, cluster_id: object, context: object) -> None:
    """``check_options`` for the ``**options`` of a ``register_*_by_*`` call, defaults filled in."""
    check_options(
        options.get("replace", False),
        options.get("exec_timeout", 30.0),
        options.get("token_source", "auto"),
        cluster_id=cluster_id,
        context=context,
    )


def check_options(
    replace: object,
    exec_timeout: object,
    token_source: object,
    *,
    cluster_id: object = None,
    context: object = None,
) -> None:
    """Wrong types and values of the register_* options fail here, typed, before any work."""
    if not isinstance(replace, bool):
        raise InvalidArgument(f"replace must be True or False, not {replace!r:.40}")
    if (
        isinstance(exec_timeout, bool)
        or not isinstance(exec_timeout, (int, float))
        or not math.isfinite(exec_timeout)
        or exec_timeout <= 0
    ):
        raise InvalidArgument(
            f"exec_timeout must be a positive number of seconds such as 30.0, not {exec_timeout!r:.40}"
        )
    if not isinstance(token_source, str) or token_source not in ("auto", "native", "exec"):
        raise InvalidArgument(f"token_source must be 'auto', 'native' or 'exec', not {token_source!r:.40}")
    check_optional_str(cluster_id=cluster_id, context=context)


def check_optional_str(**values: object) -> None:
    """Each keyword's value is a string or None (the keyword names the argument in the error)."""
    for what, value in values.items():
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(f"{what} must be a string or None, not {type(value).__name__}")


def check_eks_by_name(
    cluster_name: object, region: object, profile: object, role_arn: object, env: object, token_source: object
) -> None:
    """The types of ``register_eks``'s own arguments (the AWS identity's strings and env), and no
    exec plugin (it mints tokens natively); its names are admission's to check."""
    check_optional_str(profile=profile, role_arn=role_arn)
    pairs = env.items() if isinstance(env, Mapping) else [(None, None)]
    if env is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
        raise InvalidArgument("env must map variable names to string values")
    if token_source == "exec":
        raise EKSAuthError(
            EKSAuthErrorKind.InvalidKubeconfig,
            "register_eks mints tokens natively; to use an exec plugin, register a "
            "kubeconfig with register_eks_by_string/by_path and token_source='exec'",
        )

"""Why an EKS cluster refuses our tokens: bad AWS credentials, or an identity it does not map.

A cluster answers 401 to both. One STS GetCallerIdentity with the same credentials tells
them apart: AWS refuses it when the keys are invalid or expired (``InvalidCredentials``,
naming the access key id's prefix and where the keys came from, never the secret); it
answers with the caller's ARN when they are fine, so the cluster lacks an access entry or
aws-auth mapping for that ARN (``PermissionDenied``). At most one call is in flight per
token source, and its outcome is reused for ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kom_async.auth.eks.aws_errors import map_aws_error, scrubbed
from kom_async.errors import EKSAuthError, EKSAuthErrorKind

if TYPE_CHECKING:
    from kom_async.auth.eks.aws import AWSContext

DIAGNOSIS_INTERVAL = 30.0
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")


def key_prefix(access_key: str) -> str:
    """The first characters of an access key id: enough to recognise it, not to use it."""
    return f"{access_key[:8]}..." if access_key else "<none>"


def describe_source(method: str, *, profile: str | None, role_arn: str | None, env_from: str | None) -> str:
    """Where botocore found the keys, in words a user can act on. ``env_from`` names the env
    the keys were set in when it is not the process's own (see :func:`env_origin`)."""
    if role_arn:
        return f"role {role_arn} (assumed with the base credentials)"
    if method == "env":
        return f"the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY {env_from or 'environment variables'}"
    name = profile or "default"
    words = {
        "shared-credentials-file": "the shared credentials file",
        "config-file": "the config file",
        "assume-role": "a role it assumes",
        "assume-role-with-web-identity": "web identity (IRSA / Pod Identity)",
        "sso": "AWS SSO / IAM Identity Center",
        "custom-process": "its credential_process",
    }
    if method in words:
        return f"profile {name!r} ({words[method]})"
    return f"the {method} credential provider"


def env_origin(env: Mapping[str, str], *, from_kubeconfig: bool) -> str | None:
    """Where AWS keys in a cluster's own ``env`` came from, in words; None when it sets none
    (then botocore read the process environment)."""
    if "AWS_ACCESS_KEY_ID" not in env:
        return None
    return "of the kubeconfig's exec env" if from_kubeconfig else "passed in register_eks(env=...)"


def canonical_arn(arn: str) -> str:
    """The IAM role ARN behind an STS assumed-role ARN (what access entries name)."""
    m = _ASSUMED_ROLE.match(arn)
    return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}" if m else arn


class CredentialCheck:
    """One token source's GetCallerIdentity check: single flight, rate-limited, outcome reused."""

    def __init__(
        self,
        *,
        cluster_id: str | None,
        describe: Callable[[str], str],
        time: Callable[[], float],
        interval: float = DIAGNOSIS_INTERVAL,
    ) -> None:
        self._cluster_id = cluster_id
        self._describe = describe
        self._time = time
        self._interval = interval
        self._lock = asyncio.Lock()
        self._outcome: str | EKSAuthError | None = None
        self._at = float("-inf")
        self.calls = 0

    async def identity(self, ctx: AWSContext) -> str:
        """The caller's ARN; ``EKSAuthError`` ``InvalidCredentials`` when AWS refuses the keys
        (another kind, e.g. ``NetworkError``, when STS could not say)."""
        async with self._lock:
            if self._outcome is None or self._time() - self._at >= self._interval:
                self._outcome = await self._call(ctx)
                self._at = self._time()
            outcome = self._outcome
        if isinstance(outcome, EKSAuthError):
            raise outcome
        return outcome

    async def _call(self, ctx: AWSContext) -> str | EKSAuthError:
        self.calls += 1
        frozen: Any = None
        try:
            frozen = await ctx.frozen_credentials()
            answer = await ctx.caller_identity()
        except Exception as exc:
            error = map_aws_error(exc, action="STS GetCallerIdentity", cluster_id=self._cluster_id)
            if error.kind is not EKSAuthErrorKind.InvalidCredentials:
                error.__cause__ = scrubbed(exc)  # e.g. STS unreachable: the cause stays unknown
                error.__suppress_context__ = True
                return error
            access_key = str(getattr(frozen, "access_key", "") or "")
            refused = EKSAuthError(
                EKSAuthErrorKind.InvalidCredentials,
                f"AWS refuses the credentials: access key {key_prefix(access_key)} from "
                f"{self._describe(ctx.credential_method)} is invalid or expired ({error}); renew or fix "
                "them (new keys, a new session, `aws sso login`) and register again",
                cluster_id=self._cluster_id,
            )
            refused.__cause__ = scrubbed(exc)
            refused.__suppress_context__ = True
            return refused
        return str(answer.get("Arn") or "an unknown identity")


def permission_denied(arn: str, *, cluster_name: str, cluster_id: str | None) -> EKSAuthError:
    """The error for a valid identity the cluster does not let in."""
    principal = canonical_arn(arn)
    also = f" (the session {arn})" if principal != arn else ""
    return EKSAuthError(
        EKSAuthErrorKind.PermissionDenied,
        f"the API server refused a fresh token, but AWS accepts the credentials: IAM identity "
        f"{principal}{also} is not allowed into EKS cluster {cluster_name!r}; it needs an access entry "
        "(aws eks create-access-entry) or an aws-auth ConfigMap mapping. If it has one, the token may "
        "name another cluster",
        cluster_id=cluster_id,
    )

"""Translate AWS failures (botocore, aiohttp) into ``EKSAuthError`` kinds, secrets scrubbed.

Imports botocore's exceptions only: usable from the CLI path without aiobotocore.
"""

from __future__ import annotations

import asyncio

from botocore import exceptions as bexc

from kom_async.errors import EKSAuthError, EKSAuthErrorKind
from kom_async.scrub import scrub  # the one scrubber for foreign text

INVALID_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "InvalidToken",
        "AuthFailure",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"})


def map_aws_error(exc: BaseException, *, action: str, cluster_id: str | None = None) -> EKSAuthError:
    """Translate a botocore/aiohttp failure into an ``EKSAuthError`` of the right kind."""
    kind: EKSAuthErrorKind
    if isinstance(exc, EKSAuthError):
        return exc
    if isinstance(exc, bexc.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        text = str(error.get("Message", "")) or code
        if code in INVALID_CREDENTIAL_CODES:
            kind = EKSAuthErrorKind.InvalidCredentials
        elif code in _DENIED_CODES or "AccessDenied" in code:
            kind = EKSAuthErrorKind.PermissionDenied
        elif code in ("ResourceNotFoundException", "NotFoundException"):
            kind = EKSAuthErrorKind.ClusterNotFound
        else:
            kind = EKSAuthErrorKind.NetworkError
        message = f"{action}: AWS answered {code}: {text}"
    elif isinstance(exc, (bexc.NoCredentialsError, bexc.PartialCredentialsError)):
        kind = EKSAuthErrorKind.AWSConfigMissing
        message = (
            f"{action}: no AWS credentials found ({exc}); configure a profile "
            "(AWS_PROFILE / --profile), keys, SSO or an instance role"
        )
    elif isinstance(exc, bexc.ProfileNotFound):
        kind = EKSAuthErrorKind.AWSConfigMissing
        message = f"{action}: {exc}; check AWS_CONFIG_FILE / ~/.aws/config"
    elif isinstance(exc, bexc.NoRegionError):
        kind = EKSAuthErrorKind.AWSConfigMissing
        message = (
            f"{action}: no AWS region: set AWS_REGION or a region in the AWS profile, or pass "
            "one (--region on the command line, region= in Python)"
        )
    elif isinstance(
        exc,
        (
            bexc.SSOError,
            bexc.TokenRetrievalError,
            bexc.CredentialRetrievalError,
            bexc.UnknownCredentialError,
        ),
    ):
        kind = EKSAuthErrorKind.InvalidCredentials
        message = f"{action}: AWS credentials could not be loaded: {exc}"
    elif isinstance(exc, (bexc.ConnectionError, bexc.HTTPClientError, OSError, asyncio.TimeoutError)) or type(
        exc
    ).__module__.startswith("aiohttp"):
        kind = EKSAuthErrorKind.NetworkError
        message = f"{action}: AWS endpoint unreachable: {exc or type(exc).__name__}"
    elif isinstance(exc, (bexc.ConfigParseError, bexc.InvalidConfigError, bexc.BotoCoreError)):
        kind = EKSAuthErrorKind.AWSConfigMissing
        message = f"{action}: AWS configuration problem: {exc}"
    else:
        kind = EKSAuthErrorKind.NetworkError
        message = f"{action}: unexpected {type(exc).__name__}: {exc}"
    return EKSAuthError(kind, scrub(message), cluster_id=cluster_id)


def scrubbed(exc: BaseException) -> BaseException:
    """``exc`` (and its own causes) with secret-shaped text removed, to chain as ``__cause__``.

    Edits in place: the args, botocore's message kwargs and an AWS error response's message.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        current.args = tuple(scrub(a) if isinstance(a, str) else a for a in current.args)
        kwargs = getattr(current, "kwargs", None)
        if isinstance(kwargs, dict):
            for name, value in list(kwargs.items()):
                if isinstance(value, str):
                    kwargs[name] = scrub(value)
        response = getattr(current, "response", None)
        error = response.get("Error") if isinstance(response, dict) else None
        if isinstance(error, dict) and isinstance(error.get("Message"), str):
            error["Message"] = scrub(error["Message"])
        current = current.__cause__ or current.__context__
    return exc

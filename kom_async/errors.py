"""Every error kom-async raises: one base class, a few kinds callers branch on.

Messages say what was wrong and how to fix it; none ever contains a token or a secret.
"""

from __future__ import annotations

import enum
from datetime import datetime

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (CLI start-up time)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AlreadyExists",
    "ClusterExistsError",
    "ClusterNotFound",
    "ClusterUnreachable",
    "Conflict",
    "EKSAuthError",
    "EKSAuthErrorKind",
    "ExecError",
    "ExecNotAllowed",
    "ExecPluginError",
    "ExecTimeout",
    "Forbidden",
    "Invalid",
    "InvalidArgument",
    "InvalidName",
    "KomError",
    "KubeconfigError",
    "KubeconfigRefused",
    "KubernetesError",
    "NotFound",
    "QueryError",
    "RegistryClosed",
    "ResponseTooLarge",
    "Unauthorized",
    "WaitTimeout",
]


class KomError(Exception):
    """Base class of every error raised by kom-async."""


class InvalidArgument(KomError, ValueError):
    """An argument has the wrong type or value (also a ``ValueError``)."""


class KubeconfigRefused(KomError):
    """A kubeconfig is refused by the registration's trust policy: a file outside the allowed
    directories, a server it may not send credentials to, an exec env it may not set...
    The message says which rule was broken and which setting would allow it."""


class ExecNotAllowed(KubeconfigRefused):
    """A kubeconfig's exec plugin is refused by the registration's exec policy."""


class RegistryClosed(KomError):
    """The ``Clusters`` registry was closed: no new registration, and those in flight when
    ``aclose()`` ran were cancelled and left nothing behind."""


class ClusterUnreachable(KomError, ConnectionError):
    """The API server could not be reached or dropped the connection (also a ``ConnectionError``);
    a TLS verification failure is one too, with a hint about the CA and server name."""


class KubeconfigError(KomError):
    """A kubeconfig is malformed: not YAML, missing a context/cluster/user, a bad field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class ClusterNotFound(KomError, KeyError):
    """No cluster is registered under the requested id (also a ``KeyError``)."""

    def __init__(self, cluster_id: str, known: list[str] | None = None) -> None:
        self.cluster_id = cluster_id
        hint = f"registered: {', '.join(sorted(known))}" if known else "no cluster is registered"
        self.message = f"cluster {cluster_id!r} is not registered ({hint})"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class ClusterExistsError(KomError):
    """A cluster id is already registered; pass ``replace=True`` to replace it."""

    def __init__(self, cluster_id: str) -> None:
        self.cluster_id = cluster_id
        super().__init__(
            f"cluster {cluster_id!r} is already registered; pass replace=True to replace it "
            "or choose another cluster_id"
        )


class EKSAuthErrorKind(enum.StrEnum):
    """Why EKS authentication failed; a str so it compares equal to its name."""

    TokenExpired = "TokenExpired"
    AWSConfigMissing = "AWSConfigMissing"
    ExecFailed = "ExecFailed"
    InvalidKubeconfig = "InvalidKubeconfig"
    NetworkError = "NetworkError"
    PermissionDenied = "PermissionDenied"
    InvalidCredentials = "InvalidCredentials"
    ClusterNotFound = "ClusterNotFound"
    RegionMismatch = "RegionMismatch"


class EKSAuthError(KomError):
    """EKS authentication failed; ``kind`` says why, ``cluster_id`` where."""

    def __init__(
        self,
        kind: EKSAuthErrorKind | str,
        message: str,
        *,
        cluster_id: str | None = None,
        last_success: datetime | None = None,
    ) -> None:
        self.kind = EKSAuthErrorKind(kind)
        self.cluster_id = cluster_id
        self.last_success = last_success
        where = f" (cluster {cluster_id!r})" if cluster_id else ""
        super().__init__(f"[{self.kind.value}]{where} {message}")


class ExecPluginError(KomError):
    """A (non-EKS) exec credential plugin failed: could not start, timed out, bad output."""

    def __init__(
        self,
        message: str,
        *,
        command: str | None = None,
        exit_code: int | None = None,
        stderr: str | None = None,
    ) -> None:
        self.command = command
        self.exit_code = exit_code
        self.stderr = stderr
        super().__init__(message)


class QueryError(KomError):
    """A fluent query is not ready to run (e.g. ``get()`` without a name, an unknown kind)."""


class InvalidName(QueryError, InvalidArgument):
    """An object name or namespace the Kubernetes API would refuse (``..``, ``a/b``, ``%2e``);
    raised before any URL is built. Also a ``QueryError`` and a ``ValueError``."""

    def __init__(self, message: str, *, value: str | None) -> None:
        self.value = value
        super().__init__(message)


class ResponseTooLarge(KomError):
    """An API server sent more than a ``Limits`` allows (a body, a log, a watch line, exec
    output); ``limit`` names the field, ``size`` is its value in bytes. The message says how
    to ask for less or raise the limit."""

    def __init__(self, message: str, *, limit: str, size: int) -> None:
        self.limit = limit
        self.size = size
        super().__init__(message)


class WaitTimeout(KomError, TimeoutError):
    """``wait()`` ran out of time before the condition was met (also a ``TimeoutError``)."""


class ExecError(KomError):
    """A command run in a pod could not run or its session broke; ``status`` is the server's."""

    def __init__(self, message: str, *, status: dict[str, Any] | None = None) -> None:
        self.status = status or {}
        super().__init__(message)


class ExecTimeout(ExecError, TimeoutError):
    """``exec()`` did not finish within its ``timeout`` (also a ``TimeoutError``)."""


class KubernetesError(KomError):
    """The Kubernetes API server refused a request; carries its ``Status`` message."""

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        reason: str | None = None,
        kind: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        status: dict[str, Any] | None = None,
    ) -> None:
        if status_code is not None:
            self.status_code = status_code
        self.reason = reason
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.status = status or {}
        from kom_async.scrub import scrub  # here, not at import: keeps `eks get-token` start-up lean

        self.message = message = scrub(message)  # the server's text: foreign, may echo a secret
        target = "/".join(p for p in (kind, namespace, name) if p)
        prefix = f"{self.status_code} {reason or ''}".strip()
        super().__init__(f"{prefix}: {message}" + (f" [{target}]" if target else ""))


class Unauthorized(KubernetesError):
    """401: the server did not accept the credentials (after one refresh and retry)."""

    status_code = 401


class Forbidden(KubernetesError):
    """403: authenticated but not allowed."""

    status_code = 403


class NotFound(KubernetesError):
    """404: the object or resource does not exist."""

    status_code = 404


class Conflict(KubernetesError):
    """409: a write conflicted (stale resourceVersion)."""

    status_code = 409


class AlreadyExists(Conflict):
    """409 AlreadyExists: create of an object that exists."""


class Invalid(KubernetesError):
    """422: the object failed validation."""

    status_code = 422


def missing_extra(what: str, extra: str, module: str | None) -> str:
    """One sentence for a feature whose optional dependencies are absent: which extra to install,
    both from an index and from a source checkout (the CLI and the pytest plugin use it)."""
    missing = f" ({module} is not installed)" if module else ""
    return (
        f"{what} needs the {extra!r} extra{missing}: pip install 'kom-async[{extra}]', "
        f"or in a kom-async source checkout: pip install -e '.[{extra}]'"
    )

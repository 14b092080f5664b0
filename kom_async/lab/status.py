"""Kubernetes ``Status`` objects and the error type the lab's API server answers with."""

from __future__ import annotations

from typing import Any

from kom_async.errors import KomError

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def status_body(
    code: int,
    message: str,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A failure ``Status`` object as a real API server returns it."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or _REASONS.get(code, "Unknown"),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class ApiError(KomError):
    """An API request failed; carries the HTTP code and the ``Status`` to answer with."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        group: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.headers = headers or {}
        details: dict[str, Any] = {}
        if name:
            details["name"] = name
        if group:
            details["group"] = group
        if kind:
            details["kind"] = kind
        self.body = status_body(code, message, reason=reason, details=details or None)
        super().__init__(message)

    @classmethod
    def not_found(cls, plural: str, name: str, group: str = "") -> ApiError:
        """404 for a missing object, worded like the real server."""
        what = f"{plural}.{group}" if group else plural
        return cls(404, f'{what} "{name}" not found', kind=plural, name=name, group=group)

    @classmethod
    def already_exists(cls, plural: str, name: str, group: str = "") -> ApiError:
        """409 AlreadyExists for a create of an existing name."""
        what = f"{plural}.{group}" if group else plural
        return cls(
            409,
            f'{what} "{name}" already exists',
            reason="AlreadyExists",
            kind=plural,
            name=name,
            group=group,
        )

    @classmethod
    def invalid(cls, kind: str, name: str, message: str) -> ApiError:
        """422 Invalid for an object that fails validation."""
        return cls(422, f'{kind} "{name}" is invalid: {message}', reason="Invalid", kind=kind, name=name)

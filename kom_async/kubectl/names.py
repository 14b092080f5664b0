"""Object names and namespaces, checked by the Kubernetes API's own rules before a URL is built.

A name is one path segment: ``..`` must not climb to the parent collection, ``a/b`` must not
reach a subresource, ``%2e%2e`` must not decode into either. Namespaces are DNS-1123 labels.
"""

from __future__ import annotations

import re

from kom_async.errors import InvalidName

MAX_NAME_LENGTH = 253
"""No Kubernetes object name is longer (the DNS-1123 subdomain limit most kinds use)."""

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _path_segment_problem(value: str) -> str | None:
    """Why ``value`` is not a path-segment name (apimachinery's IsValidPathSegmentName), or None."""
    if not value:
        return "it is empty"
    if value in (".", ".."):
        return f"{value!r} is not a name but a path step"
    for bad in ("/", "%"):
        if bad in value:
            return f"it contains {bad!r}"
    if _CONTROL.search(value):
        return "it contains a control character"
    if len(value) > MAX_NAME_LENGTH:
        return f"it is {len(value)} characters long (at most {MAX_NAME_LENGTH})"
    return None


def is_path_segment(value: object) -> bool:
    """True if ``value`` can stand alone as one segment of an API path."""
    return isinstance(value, str) and _path_segment_problem(value) is None


def check_name(value: object, *, what: str = "name") -> str:
    """Return ``value`` if it is a valid object name; raise :class:`InvalidName` otherwise."""
    if not isinstance(value, str):
        raise InvalidName(f"{what} must be a string, got {type(value).__name__}", value=None)
    problem = _path_segment_problem(value)
    if problem is not None:
        raise InvalidName(
            f"{what} {_show(value)} is not a valid object name: {problem}. Kubernetes names are "
            "one path segment: not '.' or '..', without '/', '%' or control characters, "
            f"1 to {MAX_NAME_LENGTH} characters (most kinds: lower-case letters, digits, '-' and '.')",
            value=value,
        )
    return value


def check_namespace(value: object, *, what: str = "namespace") -> str:
    """Return ``value`` if it is a valid namespace (a DNS-1123 label); raise :class:`InvalidName`."""
    if not isinstance(value, str):
        raise InvalidName(f"{what} must be a string, got {type(value).__name__}", value=None)
    if not _DNS_LABEL.fullmatch(value):
        raise InvalidName(
            f"{what} {_show(value)} is not a valid namespace: namespaces are DNS-1123 labels, "
            "1 to 63 lower-case letters, digits or '-', starting and ending with a letter or digit "
            "(e.g. 'default', 'team-a')",
            value=value,
        )
    return value


def is_group(value: str) -> bool:
    """True for an API group discovery may put in a URL: "" (core) or a DNS subdomain."""
    return value == "" or (len(value) <= MAX_NAME_LENGTH and bool(_DNS_SUBDOMAIN.fullmatch(value)))


def is_version(value: str) -> bool:
    """True for an API version discovery may put in a URL (a DNS-1123 label such as ``v1beta1``)."""
    return bool(_DNS_LABEL.fullmatch(value))


def escape_field_value(value: str) -> str:
    """Escape a field-selector value as apimachinery's ``fields.EscapeValue`` does."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _show(value: str) -> str:
    """The offending value for a message: repr'd (control characters visible), cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "...'"

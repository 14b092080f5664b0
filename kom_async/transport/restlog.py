"""Keep kubernetes_asyncio's own DEBUG logs free of secrets.

Its REST client logs every preloaded response body at DEBUG ("response body: ..."), so a
user who turns on DEBUG for everything would see whole Secrets and service-account tokens.
The filter installed here rewrites those records: Secret data, token fields and anything
that looks like an ``Authorization`` header are replaced before any handler sees them.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

#: the loggers kubernetes_asyncio writes request/response details and plugin errors to
LOGGERS = ("kubernetes_asyncio.client.rest", "kubernetes_asyncio.config.kube_config")
REDACTED = "<redacted>"

_AUTH_HEADER = re.compile(r"(?i)\b(authorization|proxy-authorization)(['\"]?\s*[:=]\s*['\"]?)[^'\",}\r\n]+")
_SCHEME_VALUE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{4,}")
_SECRET_KINDS = ("Secret",)
_TOKEN_KINDS = {"TokenRequest": ("status", "token"), "TokenReview": ("spec", "token")}


class RestLogFilter(logging.Filter):
    """Rewrites a record's message so it shows no Secret data, token or auth header."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if record.msg == "response body: %s" and isinstance(record.args, tuple) and record.args:
                record.msg, record.args = "response body: %s", (redact_body(record.args[0]),)
            text = record.getMessage()
        except Exception:  # never let logging break a request; drop what cannot be checked
            record.msg, record.args = "<log record withheld: it could not be checked for secrets>", ()
            return True
        clean = redact_text(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


def redact_text(text: str) -> str:
    """``text`` with auth header values and bearer/basic credentials replaced."""
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _SCHEME_VALUE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def redact_body(body: object) -> str:
    """A response body as safe text: JSON with Secret data and tokens replaced; other bodies
    (pod logs, binary data) only by their size."""
    raw = body if isinstance(body, (bytes, str)) else str(body)
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return f"<{len(raw)} bytes, not JSON: not logged>"
    _redact(doc, in_secret_list=False)
    return json.dumps(doc, separators=(",", ":"))


def _redact(value: Any, *, in_secret_list: bool) -> None:
    if isinstance(value, list):
        for item in value:
            _redact(item, in_secret_list=in_secret_list)
        return
    if not isinstance(value, dict):
        return
    kind = value.get("kind")
    if kind in _SECRET_KINDS or (in_secret_list and kind is None):
        _redact_secret(value)
    elif kind in _TOKEN_KINDS:
        section, field = _TOKEN_KINDS[kind]
        part = value.get(section)
        if isinstance(part, dict) and field in part:
            part[field] = REDACTED
    is_secret_list = isinstance(kind, str) and kind.endswith("List") and kind[:-4] in _SECRET_KINDS
    for key, child in value.items():
        if key != "metadata":
            _redact(child, in_secret_list=is_secret_list and key == "items")


def _redact_secret(secret: dict[str, Any]) -> None:
    for field in ("data", "stringData"):
        if isinstance(secret.get(field), dict):
            secret[field] = {key: REDACTED for key in secret[field]}
    meta = secret.get("metadata")
    if isinstance(meta, dict):  # kubectl apply keeps the whole Secret in an annotation
        for field in ("annotations", "managedFields"):
            if field in meta:
                meta[field] = REDACTED


_FILTER = RestLogFilter("kom_async.restlog")


def install() -> None:
    """Attach the filter to kubernetes_asyncio's loggers (once; filters do not inherit)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)

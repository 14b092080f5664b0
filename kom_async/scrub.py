"""One scrubber for every error that carries foreign text (plugin stderr, AWS and API server
messages): anything shaped like a secret becomes ``<redacted>``, not only known token formats."""

from __future__ import annotations

import re

REDACTED = "<redacted>"

# `name=value` / `name: value` where the name says it holds a secret (DB_PASS=..., "token": "...")
_SECRET_WORDS = (
    r"pass|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key"
    r"|credential|auth|session|cookie|signature"
)
# bounded and anchored at the start of a word: each position is tried in constant time, so a
# 16 KiB run of letters costs microseconds, not the quadratic backtracking of ``\w*(?:...)\w*``
_SECRET_NAME = rf"(?<![A-Za-z0-9_.\-])[A-Za-z0-9_.\-]{{0,40}}?(?:{_SECRET_WORDS})[A-Za-z0-9_.\-]{{0,40}}"
_ASSIGNMENT = re.compile(
    rf"""(?P<name>["']?{_SECRET_NAME}["']?\s*[=:]\s*)(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,;&"'}}\]]+)""",
    re.IGNORECASE,
)
# credentials in URLs: scheme://user:password@host
_USERINFO = re.compile(r"(?P<scheme>(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,30}://)[^/\s@]{1,512}@")
# `Bearer xxx`, `Basic xxx` (HTTP authorization values)
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>Bearer|Basic)\s+[A-Za-z0-9._~+/=\-]{6,}", re.IGNORECASE)
_KNOWN = re.compile(
    "|".join(
        (
            r"k8s-aws-v1\.[A-Za-z0-9_\-]+",  # EKS token
            r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_.\-]+",  # JWT (service-account tokens, OIDC)
            r"\b(?:AKIA|ASIA|AROA|AIDA|ANPA|ANVA|AGPA)[A-Z0-9]{12,}\b",  # AWS access key / principal ids
            r"\bgh[pousr]_[A-Za-z0-9]{16,}",  # GitHub tokens
            r"\bgithub_pat_[A-Za-z0-9_]{20,}",
            r"\bxox[abposr]-[A-Za-z0-9\-]{8,}",  # Slack
            r"\bglpat-[A-Za-z0-9_\-]{16,}",  # GitLab
            r"\bsk-[A-Za-z0-9_\-]{16,}",  # OpenAI-style secret keys
            r"\bAIza[A-Za-z0-9_\-]{30,}",  # Google API keys
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        )
    )
)
# anything else long and random-looking: 32+ token characters mixing upper case, lower case and
# digits (AWS secret keys are 40, session tokens hundreds), or 40+ hex digits; Kubernetes names
# (lower case) and paths never qualify
_RANDOM = re.compile(r"[A-Za-z0-9+/=_\-]{32,}")
_HEX = re.compile(r"\b[0-9a-fA-F]{40,}\b")


def _looks_random(run: str) -> bool:
    return any(c.isdigit() for c in run) and any(c.isupper() for c in run) and any(c.islower() for c in run)


def scrub(text: str) -> str:
    """``text`` with every secret-shaped part replaced by ``<redacted>``."""
    text = _KNOWN.sub(REDACTED, text)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {REDACTED}", text)
    text = _ASSIGNMENT.sub(lambda m: m["name"] + REDACTED if m["value"] != REDACTED else m[0], text)
    text = _HEX.sub(REDACTED, text)
    return _RANDOM.sub(lambda m: REDACTED if _looks_random(m[0]) else m[0], text)

"""One scrubber for every error that carries foreign text (plugin stderr, AWS and API server
messages): a secret is found by what it is, never by the word before it, so the sentence
around it survives ("load AWS credentials: No AWS credentials found" stays readable).

What is redacted: the values of credentials the caller knows are in use; token and key shapes
(EKS tokens, JWTs, PEM private keys, AWS access key ids, vendor API keys); URL userinfo;
``Bearer``/``Basic`` values; long random runs; and values assigned to a secret-named key where
the text is data, not prose: ``password=x`` always, ``"token": "x"`` (a side quoted), and
``password: x`` when ``x`` is shaped like a value (a digit or a symbol in it). A bare word of
letters after ``key:`` is read as prose and kept (``password: hunter`` is the price of that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "<redacted>"

# a key that says it holds a secret (DB_PASS, "token", X-Amz-Security-Token, client_secret)
_SECRET_WORDS = (
    r"pass|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key"
    r"|credential|auth|session|cookie|signature"
)
# bounded and anchored at the start of a word: each position is tried in constant time, so a
# 16 KiB run of letters costs microseconds, not the quadratic backtracking of ``\w*(?:...)\w*``
_SECRET_NAME = rf"(?<![A-Za-z0-9_.\-])[A-Za-z0-9_.\-]{{0,40}}?(?:{_SECRET_WORDS})[A-Za-z0-9_.\-]{{0,40}}"
_VALUE = r"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,;&"'}\])\[(<>][^\s,;&"'}\])<>]*)"""
# `name=value`: an assignment (env, query string, flag) is data whatever its value looks like
_EQUALS = re.compile(rf"""(?P<name>["']?{_SECRET_NAME}["']?[ \t]*=[ \t]*){_VALUE}""", re.IGNORECASE)
# `name: value`: data or prose; _colon_value decides by the value's shape
_COLON = re.compile(
    rf"""(?P<name>(?P<quote>["']?){_SECRET_NAME}(?P=quote)[ \t]*:[ \t]*){_VALUE}""", re.IGNORECASE
)
# a value, not a word: a digit or a symbol inside it, or upper case after a lower-case start
# (dots and hyphens do not count: field paths and hyphenated words are prose)
_VALUE_SHAPED = re.compile(r"[0-9/+=_~]|^[a-z]+[A-Z]")
# credentials in URLs: scheme://user:password@host
_USERINFO = re.compile(r"(?P<scheme>(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,30}://)[^/\s@]{1,512}@")
# `Bearer xxx`, `Basic xxx` (HTTP authorization values); a plain word after it is prose
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>Bearer|Basic)\s+(?P<value>[A-Za-z0-9._~+/=\-]{6,})", re.IGNORECASE)
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
# anything else long and random-looking: 32+ token characters with a random stretch in them
# (AWS secret keys are 40, session tokens hundreds), or 40+ hex digits that are not a
# content digest (sha256:...); Kubernetes names, request ids (lower-case UUIDs) and paths never qualify
_RANDOM = re.compile(r"[A-Za-z0-9+/=_\-]{32,}")
_HEX = re.compile(r"(?<!sha256:)(?<!sha512:)\b[0-9a-fA-F]{40,}\b")
# a known secret shorter than this is not searched for: it would match ordinary text
_MIN_KNOWN = 6


# separators inside identifiers; a random run has a long stretch without them
_SEPARATORS = re.compile(r"[-_=.]")


def _looks_random(run: str) -> bool:
    """16+ characters between separators, mixing upper case, lower case and digits: a key, not
    an identifier such as ``X-Amz-Algorithm=AWS4-HMAC-SHA256``."""
    return any(
        len(part) >= 16
        and any(c.isdigit() for c in part)
        and any(c.isupper() for c in part)
        and any(c.islower() for c in part)
        for part in _SEPARATORS.split(run)
    )


def _redacted_value(m: re.Match[str]) -> str | None:
    """The match with its value redacted if the value is quoted or a run; None for a bare word."""
    value = m["value"]
    if value.startswith(REDACTED):
        return m[0]
    if value[0] in "\"'":
        return f"{m['name']}{value[0]}{REDACTED}{value[0]}" if len(value) > 2 else m[0]
    return None


def _equals_value(m: re.Match[str]) -> str:
    """``name=value``: an assignment's value is data, whatever it looks like."""
    return _redacted_value(m) or m["name"] + REDACTED


def _colon_value(m: re.Match[str]) -> str:
    """``name: value`` with the value redacted when it is data, unchanged when it is prose."""
    value = m["value"]
    done = _redacted_value(m)  # token: "abc", "token": "abc"
    if done is not None:
        return done
    bare = value.rstrip(".:!?")
    # "token": abc (a quoted key: JSON, YAML, a repr), or password: hunter2, token: a/b+c;
    # a bare word (letters only) after an unquoted key is prose: "credentials: No AWS ..."
    data = m["quote"] != "" or _VALUE_SHAPED.search(bare) is not None
    return m["name"] + REDACTED if data and bare else m[0]


def _auth_value(m: re.Match[str]) -> str:
    value = m["value"]
    if value.isalpha() and (value.islower() or value.istitle()):
        return m[0]  # "Basic authentication failed": a word, not a credential
    return f"{m['scheme']} {REDACTED}"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret-shaped part, and every value in ``secrets`` (the credentials a
    caller knows are in use), replaced by ``<redacted>``."""
    for secret in sorted((s for s in secrets if len(s) >= _MIN_KNOWN), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _KNOWN.sub(REDACTED, text)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    text = _AUTH_SCHEME.sub(_auth_value, text)
    text = _EQUALS.sub(_equals_value, text)
    text = _COLON.sub(_colon_value, text)
    text = _HEX.sub(REDACTED, text)
    return _RANDOM.sub(lambda m: REDACTED if _looks_random(m[0]) else m[0], text)

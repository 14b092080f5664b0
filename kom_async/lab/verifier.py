"""EKS token verification as aws-iam-authenticator does it, plus a real SigV4 check.

aws-iam-authenticator validates the presigned URL's shape and then lets STS check the
signature; the lab has no STS that checks signatures, so it recomputes SigV4 itself
with the secret moto holds for the access key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit

from kom_async.errors import KomError
from kom_async.lab.aws import AWSCredential, canonical_arn

TOKEN_PREFIX = "k8s-aws-v1."
MAX_TOKEN_LEN = 4096
TOKEN_TTL = timedelta(minutes=15)
FUTURE_SKEW = timedelta(minutes=5)
CLUSTER_ID_HEADER = "x-k8s-aws-id"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
ALLOWED_PARAMS = frozenset(
    {
        "action",
        "version",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-security-token",
        "x-amz-signature",
        "x-amz-signedheaders",
    }
)
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_STS_HOST = re.compile(r"^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class TokenRejected(KomError):
    """A bearer token is not a valid EKS token for this cluster; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """Who a valid token belongs to: canonical ARN, raw caller ARN, key id and signing time."""

    arn: str
    caller_arn: str
    access_key_id: str
    account_id: str
    signed_at: datetime


def _decode(token: str) -> str:
    if not token.startswith(TOKEN_PREFIX):
        raise TokenRejected("token lacks the EKS token prefix")
    if len(token) > MAX_TOKEN_LEN:
        raise TokenRejected("token is longer than 4096 bytes")
    payload = token[len(TOKEN_PREFIX) :]
    if not payload or not _B64URL.match(payload) or len(payload) % 4 == 1:
        raise TokenRejected("token payload is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise TokenRejected("token payload is not unpadded base64url") from None


def _parse_query(query: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for part in query.split("&") if query else []:
        key, sep, value = part.partition("=")
        if not key or not sep:
            raise TokenRejected("malformed query string in presigned URL")
        pairs.append((unquote(key, errors="strict"), unquote(value, errors="strict")))
    return pairs


def _host_allowed(scheme: str, netloc: str, local_sts: Collection[str]) -> bool:
    if scheme == "http":
        return netloc in local_sts
    if scheme != "https":
        return False
    host = netloc[:-4] if netloc.endswith(":443") else netloc
    return netloc in local_sts or bool(_STS_HOST.match(host))


def _signing_host(scheme: str, netloc: str) -> str:
    default = ":443" if scheme == "https" else ":80"
    return netloc[: -len(default)] if netloc.endswith(default) else netloc


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _signature(
    secret: str,
    *,
    host: str,
    cluster_id: str,
    params: list[tuple[str, str]],
    amz_date: str,
    scope: str,
    payload_hash: str,
) -> str:
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted((_enc(k), _enc(v)) for k, v in params))
    canonical_request = "\n".join(
        [
            "GET",
            "/",
            canonical_query,
            f"host:{host}\n{CLUSTER_ID_HEADER}:{cluster_id}\n",
            f"host;{CLUSTER_ID_HEADER}",
            payload_hash,
        ]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    date, region, service, terminator = scope.split("/")
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    for part in (region, service, terminator):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def verify_eks_token(
    token: str,
    *,
    cluster_id: str,
    now: datetime,
    lookup: Callable[[str], AWSCredential | None],
    local_sts_hosts: Collection[str] = (),
) -> VerifiedIdentity:
    """Verify a ``k8s-aws-v1.`` token for ``cluster_id`` at time ``now``.

    Raises :class:`TokenRejected` for anything invalid (never another exception for any
    input string); ``lookup`` maps an access key id to what moto knows about it.
    """
    try:
        return _verify(token, cluster_id, now, lookup, local_sts_hosts)
    except TokenRejected:
        raise
    except (ValueError, UnicodeError, TypeError, OverflowError):
        raise TokenRejected("token is malformed") from None


def _verify(
    token: str,
    cluster_id: str,
    now: datetime,
    lookup: Callable[[str], AWSCredential | None],
    local_sts_hosts: Collection[str],
) -> VerifiedIdentity:
    # long: the SigV4 verification steps of aws-iam-authenticator, in its order, so
    # the two can be compared line by line; every early return is one rejected token
    url = _decode(token)
    if any(c in url for c in "\r\n\t #\\") or not url.isprintable():
        raise TokenRejected("presigned URL contains forbidden characters")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise TokenRejected("presigned URL has user info or a fragment")
    if not _host_allowed(parts.scheme, parts.netloc, local_sts_hosts):
        raise TokenRejected("presigned URL is not for an STS endpoint")
    if parts.path != "/":
        raise TokenRejected("presigned URL path is not /")

    pairs = _parse_query(parts.query)
    by_lower: dict[str, str] = {}
    for key, value in pairs:
        low = key.lower()
        if low not in ALLOWED_PARAMS:
            raise TokenRejected("presigned URL has a query parameter that is not allowed")
        if low in by_lower:
            raise TokenRejected("presigned URL repeats a query parameter")
        by_lower[low] = value
    if by_lower.get("action") != "GetCallerIdentity":
        raise TokenRejected("presigned URL action is not GetCallerIdentity")
    for required in (
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
        "x-amz-signedheaders",
    ):
        if required not in by_lower:
            raise TokenRejected(f"presigned URL lacks {required}")
    signed = by_lower["x-amz-signedheaders"].split(";")
    if CLUSTER_ID_HEADER not in signed:
        raise TokenRejected("x-k8s-aws-id is not a signed header")
    if sorted(signed) != ["host", CLUSTER_ID_HEADER]:
        raise TokenRejected("unexpected signed headers")
    expires_text = by_lower.get("x-amz-expires", "0")
    if not expires_text.isdigit() or len(expires_text) > 4 or not 0 <= int(expires_text) <= 900:
        raise TokenRejected("X-Amz-Expires is not an integer in 0..900")
    if by_lower["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
        raise TokenRejected("unsupported signing algorithm")

    amz_date = by_lower["x-amz-date"]
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise TokenRejected("X-Amz-Date is malformed") from None
    if now - signed_at > TOKEN_TTL:
        raise TokenRejected("token expired (signed more than 15 minutes ago)")
    if signed_at - now > FUTURE_SKEW:
        raise TokenRejected("token is signed in the future")

    cred_parts = by_lower["x-amz-credential"].split("/")
    if len(cred_parts) != 5 or cred_parts[4] != "aws4_request" or cred_parts[3] != "sts":
        raise TokenRejected("X-Amz-Credential is malformed")
    access_key_id, date, region = cred_parts[0], cred_parts[1], cred_parts[2]
    if date != amz_date[:8] or not region:
        raise TokenRejected("X-Amz-Credential scope does not match X-Amz-Date")
    signature = by_lower["x-amz-signature"]
    if not _HEX64.match(signature):
        raise TokenRejected("signature does not match")

    cred = lookup(access_key_id)
    if cred is None:
        raise TokenRejected("unknown access key")
    token_param = by_lower.get("x-amz-security-token")
    if cred.session_token is None:
        if token_param is not None:
            raise TokenRejected("unexpected security token")
    elif token_param is None or not hmac.compare_digest(
        token_param.encode("utf-8"), cred.session_token.encode("utf-8")
    ):
        raise TokenRejected("security token does not match")

    # STS reads SigV4 parameter names case-sensitively: a re-cased "x-amz-signature" stays in the
    # canonical query like any other parameter, so the signature no longer matches
    unsigned = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    host = _signing_host(parts.scheme, parts.netloc)
    scope = "/".join(cred_parts[1:])
    for payload_hash in (EMPTY_SHA256, UNSIGNED_PAYLOAD):
        expected = _signature(
            cred.secret_access_key,
            host=host,
            cluster_id=cluster_id,
            params=unsigned,
            amz_date=amz_date,
            scope=scope,
            payload_hash=payload_hash,
        )
        if hmac.compare_digest(expected, signature):
            return VerifiedIdentity(
                arn=canonical_arn(cred.arn),
                caller_arn=cred.arn,
                access_key_id=access_key_id,
                account_id=cred.account_id,
                signed_at=signed_at,
            )
    raise TokenRejected("signature does not match")

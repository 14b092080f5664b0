"""The EKS token itself: a SigV4-presigned STS GetCallerIdentity URL, signed with the stdlib.

The token is ``k8s-aws-v1.`` + unpadded base64url of the URL, presigned for 60 s with
``x-k8s-aws-id`` among the signed headers; the cluster accepts it for 15 minutes, we
report 14. Signing here (a few HMACs) rather than through botocore's presigner keeps the
token away from botocore's logging, lets tests inject the signing time, and lets
``kom-async eks get-token`` mint without importing botocore at all. ``sign_headers`` signs
the one other AWS call made per cluster, DescribeCluster (see ``eks_api``), the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, urlsplit

TOKEN_PREFIX = "k8s-aws-v1."
TOKEN_LIFETIME = timedelta(minutes=14)
URL_EXPIRES_SECONDS = 60
K8S_AWS_ID_HEADER = "x-k8s-aws-id"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_OPERATION = (("Action", "GetCallerIdentity"), ("Version", "2011-06-15"))


class SigningKeys(NamedTuple):
    """An access key, its secret and the session token, if any; the repr hides the secret."""

    access_key: str
    secret_key: str
    token: str | None

    def __repr__(self) -> str:
        return f"SigningKeys(access_key={self.access_key[:4]}..., secret_key=<redacted>)"

    def __str__(self) -> str:
        return repr(self)


def _enc(value: str) -> str:
    return quote(value, safe="-_.~")


_OPERATION_ENCODED = tuple((_enc(k), _enc(v)) for k, v in _OPERATION)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def presign_eks_url(
    *,
    sts_url: str,
    region: str,
    k8s_aws_id: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    when: datetime,
    service: str = "sts",
) -> str:
    """SigV4 query-presign GET ``sts_url?Action=GetCallerIdentity`` for ``k8s_aws_id`` at ``when``.

    Produces byte-for-byte the URL botocore's presigner (and so ``aws eks get-token``)
    produces for the same inputs.
    """
    # long: the SigV4 steps (canonical request, string to sign, key, signature)
    # in the order the spec lists them, so they can be checked against it
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    parts = urlsplit(sts_url)
    host = _host_header(parts.scheme, parts.netloc, parts.port, parts.hostname)
    path = parts.path or "/"
    auth: list[tuple[str, str]] = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(URL_EXPIRES_SECONDS)),
        ("X-Amz-SignedHeaders", f"host;{K8S_AWS_ID_HEADER}"),
    ]
    if session_token is not None:
        auth.append(("X-Amz-Security-Token", session_token))
    encoded_auth = [(_enc(k), _enc(v)) for k, v in auth]
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted([*_OPERATION_ENCODED, *encoded_auth]))
    canonical_request = "\n".join(
        (
            "GET",
            quote(path, safe="/~"),
            canonical_query,
            f"host:{host}\n{K8S_AWS_ID_HEADER}:{' '.join(k8s_aws_id.split())}\n",
            f"host;{K8S_AWS_ID_HEADER}",
            _EMPTY_SHA256,
        )
    )
    string_to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            stamp,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        )
    )
    signature = _signature(secret_key, day, region, service, string_to_sign)
    operation = "&".join(f"{k}={v}" for k, v in _OPERATION_ENCODED)
    auth_query = "&".join(f"{k}={v}" for k, v in encoded_auth)
    return f"{parts.scheme}://{parts.netloc}{path}?{operation}&{auth_query}&X-Amz-Signature={signature}"


def _signature(secret_key: str, day: str, region: str, service: str, string_to_sign: str) -> str:
    """The SigV4 signature of ``string_to_sign`` with the key derived for this scope."""
    key = _hmac(f"AWS4{secret_key}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _host_header(scheme: str, netloc: str, port: int | None, hostname: str | None) -> str:
    """The Host value SigV4 signs: the netloc without a default port, as HTTP clients send it."""
    if port is not None and ((scheme == "https" and port == 443) or (scheme == "http" and port == 80)):
        return hostname or netloc
    return netloc


def sign_headers(
    *, method: str, url: str, region: str, service: str, keys: SigningKeys, when: datetime
) -> dict[str, str]:
    """SigV4 headers (``Authorization``, ``X-Amz-Date``, ``X-Amz-Security-Token``) for a
    request without a body, as botocore's ``SigV4Auth`` signs it: ``host``, ``x-amz-date``
    and the session token among the signed headers."""
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    parts = urlsplit(url)
    signed_values = {
        "host": _host_header(parts.scheme, parts.netloc, parts.port, parts.hostname),
        "x-amz-date": stamp,
    }
    if keys.token is not None:
        signed_values["x-amz-security-token"] = keys.token
    names = sorted(signed_values)
    query = sorted((_enc(k), _enc(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True))
    canonical_request = "\n".join(
        (
            method,
            quote(parts.path or "/", safe="/~"),
            "&".join(f"{k}={v}" for k, v in query),
            "".join(f"{name}:{' '.join(signed_values[name].split())}\n" for name in names),
            ";".join(names),
            _EMPTY_SHA256,
        )
    )
    string_to_sign = "\n".join(
        ("AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest())
    )
    signature = _signature(keys.secret_key, day, region, service, string_to_sign)
    headers = {
        "X-Amz-Date": stamp,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={keys.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        ),
    }
    if keys.token is not None:
        headers["X-Amz-Security-Token"] = keys.token
    return headers


def token_from_url(url: str) -> str:
    """``k8s-aws-v1.`` + the URL in unpadded base64url."""
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")

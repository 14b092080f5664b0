"""Helpers for the EKS tests: decode tokens, run the real AWS CLI, a frozen clock."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

TOKEN_PREFIX = "k8s-aws-v1."
ACCOUNT = "123456789012"
ACCESS_KEY = "AKIAKOMASYNCTEST0001"
SECRET_KEY = "kOmAsYnCtEsTsEcReTkEy0000000000000000001"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def decode_token(token: str) -> str:
    """The presigned URL inside an EKS token."""
    assert token.startswith(TOKEN_PREFIX)
    body = token[len(TOKEN_PREFIX) :]
    assert "=" not in body
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def url_parts(url: str) -> tuple[str, str, str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))


def signing_time(url: str) -> datetime:
    stamp = url_parts(url)[3]["X-Amz-Date"]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def aws_cli_token(args: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    """Run the real ``aws eks get-token`` and return its ExecCredential."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        ["aws", "eks", "get-token", *args], capture_output=True, text=True, env=full_env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    credential: dict[str, object] = json.loads(done.stdout)
    return credential


class FrozenClock:
    """A clock that stays where it is put."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        return None

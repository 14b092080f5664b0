"""A short-lived-token exec credential plugin for the peer benchmarks, and its server check.

Run as a plugin (``python -I -S token_plugin.py``) it prints an ExecCredential whose token
the lab accepts for ``KOM_BENCH_TOKEN_TTL`` seconds of real time and whose
``expirationTimestamp`` says 14/15 of that (as ``aws eks get-token`` reports 14 of EKS's 15
minutes), and appends one line to ``KOM_BENCH_PLUGIN_LOG`` so the benchmark counts runs.
The token is an HMAC over its issue time and lifetime with ``KOM_BENCH_TOKEN_SECRET``;
:func:`verify` is what the lab process checks. Standard library only: it starts in ~20 ms,
so plugin cost does not hide client behaviour (``aws eks get-token`` takes ~0.5 s).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from datetime import UTC, datetime

PREFIX = "kbt1."
REPORTED_FRACTION = 14 / 15


def _mac(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]


def mint(secret: str, ttl: float, now: float | None = None) -> tuple[str, float]:
    """A token valid for ``ttl`` seconds from ``now``; returns (token, reported expiry)."""
    issued = time.time() if now is None else now
    body = f"{PREFIX}{int(issued * 1000)}.{int(ttl * 1000)}.{secrets.token_hex(6)}"
    return f"{body}.{_mac(secret, body)}", issued + ttl * REPORTED_FRACTION


def verify(secret: str, token: str, now: float | None = None) -> str | None:
    """None if ``token`` is genuine and unexpired, else why it is rejected."""
    body, _, mac = token.rpartition(".")
    if not body.startswith(PREFIX) or not hmac.compare_digest(_mac(secret, body), mac):
        return "bad bench token"
    issued_ms, ttl_ms, _nonce = body[len(PREFIX) :].split(".")
    if (time.time() if now is None else now) * 1000 > int(issued_ms) + int(ttl_ms):
        return "bench token expired"
    return None


def main() -> None:
    """Print one ExecCredential and log the run."""
    token, expires = mint(os.environ["KOM_BENCH_TOKEN_SECRET"], float(os.environ["KOM_BENCH_TOKEN_TTL"]))
    log = os.environ.get("KOM_BENCH_PLUGIN_LOG")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"run\n")
        finally:
            os.close(fd)
    try:
        api_version = json.loads(os.environ["KUBERNETES_EXEC_INFO"])["apiVersion"]
    except (KeyError, ValueError, TypeError):
        api_version = "client.authentication.k8s.io/v1beta1"
    # milliseconds: whole seconds would cut a 5-second token noticeably short
    stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    credential = {
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {"token": token, "expirationTimestamp": stamp},
    }
    print(json.dumps(credential))


if __name__ == "__main__":
    main()

"""Run an ``EKSLab`` in a child process, so a benchmark's client does not share its CPU time.

``python -m benchmarks.labproc [--cache-token-reviews] [--bench-tokens] [--no-seed]
[--kubeconfigs=all|eks|eks+static|none] [--distinct-cas] NAME...`` starts the lab on
127.0.0.1, creates the clusters (``--distinct-cas``: each with a CA bundle of its own), prints
one JSON line (its AWS env and, per cluster, server, CA, the EKS exec kubeconfig, a static-token
one and one with a static token as long as an EKS token), answers each ``stats`` line on stdin
with one JSON line of per-cluster counters, and stops everything when its stdin closes.
``LabProcess`` is the parent's handle.

``--bench-tokens`` makes the lab accept the short-lived tokens of
:mod:`benchmarks.token_plugin` (secret in ``KOM_BENCH_TOKEN_SECRET``) until they expire.

``--cache-token-reviews`` makes the lab remember a successful token review for two minutes,
as kube-apiserver does for webhook token authenticators such as aws-iam-authenticator
(``--authentication-token-webhook-cache-ttl``, default 2m). Without it the lab recomputes
the SigV4 signature of an EKS token on every request, a server cost a real cluster does not pay.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import secrets
import sys
import time
from types import TracebackType
from typing import Any

from benchmarks import token_plugin
from kom_async.lab import EKSLab
from kom_async.lab.authn import ADMIN_GROUPS, Authenticator
from kom_async.lab.state import ClusterState, LabUser

__all__ = ["LabProcess"]


REVIEW_CACHE_TTL = 120.0
LONG_TOKEN_CHARS = 480  # an EKS token for a lab cluster is about this long


def cache_token_reviews(ttl: float = REVIEW_CACHE_TTL) -> None:
    """Make every lab ``Authenticator`` in this process cache successful reviews (benchmarks only)."""
    review = Authenticator.authenticate
    cache: dict[tuple[int, str, bool], tuple[LabUser, float]] = {}

    def cached(self: Authenticator, state: ClusterState, token: str, *, upgrade: bool = False) -> LabUser:
        now = time.monotonic()
        hit = cache.get((id(state), token, upgrade))
        if hit is not None and hit[1] > now:
            state.stats.tokens_accepted += 1
            return hit[0]
        user = review(self, state, token, upgrade=upgrade)
        cache[(id(state), token, upgrade)] = (user, now + ttl)
        return user

    Authenticator.authenticate = cached  # type: ignore[method-assign]


def accept_bench_tokens(secret: str) -> None:
    """Make every lab ``Authenticator`` in this process accept unexpired plugin tokens."""
    review = Authenticator.authenticate
    user = LabUser("bench-exec", ADMIN_GROUPS, "bench-exec")

    def checked(self: Authenticator, state: ClusterState, token: str, *, upgrade: bool = False) -> LabUser:
        if not token.startswith(token_plugin.PREFIX):
            return review(self, state, token, upgrade=upgrade)
        reason = token_plugin.verify(secret, token)
        if reason is not None:
            return self._reject(state, reason)
        state.stats.tokens_accepted += 1
        return user

    Authenticator.authenticate = checked  # type: ignore[method-assign]


def _stats(lab: EKSLab, names: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        s = lab.stats(name)
        out[name] = {
            "requests": s.requests,
            "unauthorized": s.unauthorized,
            "tokens_accepted": s.tokens_accepted,
            "tokens_rejected": s.tokens_rejected,
            "rejections": dict(s.rejections),  # reason -> count
        }
    return out


def extra_cas(n: int) -> list[str]:
    """``n`` distinct self-signed CA certificates (PEM), one key for all: cheap to make, and
    each one makes its cluster's CA bundle, and so its SSL context, its own."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    pems = []
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kom-async bench CA {i}")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(i + 1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        pems.append(cert.public_bytes(serialization.Encoding.PEM).decode())
    return pems


async def _serve(
    names: list[str],
    *,
    cache_reviews: bool,
    bench_tokens: bool,
    seed: bool,
    kubeconfigs: str,
    distinct_cas: bool = False,
) -> None:
    if cache_reviews:
        cache_token_reviews()
    if bench_tokens:
        accept_bench_tokens(os.environ["KOM_BENCH_TOKEN_SECRET"])
    async with EKSLab() as lab:
        info: dict[str, Any] = {"region": lab.region, "aws_env": lab.aws_env, "clusters": {}}
        extras = extra_cas(len(names)) if distinct_cas else [None] * len(names)
        for name, extra in zip(names, extras, strict=True):
            cluster = await lab.create_cluster(name, seed=seed, extra_ca_pem=extra)
            entry: dict[str, str] = {"server": cluster.server, "ca_data": cluster.ca_data}
            if kubeconfigs in ("eks", "all", "eks+static"):
                entry["eks_kubeconfig"] = lab.kubeconfig(name)
            if kubeconfigs == "eks+static":
                entry["static_kubeconfig"] = lab.kubeconfig(name, static_token=True)
            if kubeconfigs == "all":
                # a static token as long as an EKS token, to tell header size from provider cost
                long_token = "lab-static-long-" + secrets.token_urlsafe(LONG_TOKEN_CHARS)[:LONG_TOKEN_CHARS]
                lab.add_static_token(name, long_token, username="lab-admin")
                entry["static_kubeconfig"] = lab.kubeconfig(name, static_token=True)
                entry["long_static_kubeconfig"] = lab.kubeconfig(name, static_token=long_token)
            info["clusters"][name] = entry
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():  # EOF: the parent is done
            if line.strip() == b"stats":
                sys.stdout.write(json.dumps(_stats(lab, names)) + "\n")
                sys.stdout.flush()


class LabProcess:
    """``async with LabProcess(["c1"]) as lab:`` — ``lab.info`` has kubeconfigs and AWS env."""

    def __init__(
        self,
        names: list[str],
        *,
        cache_token_reviews: bool = False,
        bench_token_secret: str | None = None,
        seed: bool = True,
        kubeconfigs: str = "all",
        distinct_cas: bool = False,
    ) -> None:
        self.names = names
        self.cache_token_reviews = cache_token_reviews
        self.bench_token_secret = bench_token_secret
        self.seed = seed
        self.kubeconfigs = kubeconfigs  # "all" (EKS, static, EKS-sized static), "eks", "eks+static" or "none"
        self.distinct_cas = distinct_cas  # one CA bundle per cluster (the lab's CA + one of its own)
        self.info: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> LabProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.labproc",
            *(["--cache-token-reviews"] if self.cache_token_reviews else []),
            *(["--bench-tokens"] if self.bench_token_secret else []),
            *([] if self.seed else ["--no-seed"]),
            f"--kubeconfigs={self.kubeconfigs}",
            *(["--distinct-cas"] if self.distinct_cas else []),
            *self.names,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 28,  # the ready line holds every kubeconfig (10,000 clusters: ~100 MiB)
            env={**os.environ, "KOM_BENCH_TOKEN_SECRET": self.bench_token_secret or ""},
        )
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), 180)
            if not line:
                raise RuntimeError("the lab process exited before it was ready")
            self.info = json.loads(line)
        except BaseException:
            await self._stop()
            raise
        return self

    async def stats(self) -> dict[str, dict[str, Any]]:
        """Per-cluster server counters: requests, unauthorized (401s), tokens accepted/rejected,
        and rejections by reason."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"stats\n")
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        result: dict[str, dict[str, Any]] = json.loads(line)
        return result

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def _main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.labproc")
    parser.add_argument("--cache-token-reviews", action="store_true")
    parser.add_argument("--bench-tokens", action="store_true")
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--kubeconfigs", choices=["all", "eks", "eks+static", "none"], default="all")
    parser.add_argument("--distinct-cas", action="store_true")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    asyncio.run(
        _serve(
            args.names,
            cache_reviews=args.cache_token_reviews,
            bench_tokens=args.bench_tokens,
            seed=not args.no_seed,
            kubeconfigs=args.kubeconfigs,
            distinct_cas=args.distinct_cas,
        )
    )


if __name__ == "__main__":
    _main()

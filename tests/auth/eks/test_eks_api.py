"""DescribeCluster signed in-process: botocore's signature byte for byte, moto's answers read
as botocore reads them, and a hostile endpoint's answer bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from eks_helpers import ACCOUNT
from test_eks_aws import create_moto_cluster

from kom_async.auth.eks.aws import AWSClientPool, describe_cluster
from kom_async.auth.eks.eks_api import MAX_ANSWER_BYTES
from kom_async.auth.eks.sign import SigningKeys, sign_headers
from kom_async.errors import EKSAuthError, EKSAuthErrorKind


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEXAMPLE//session+token=="])
@pytest.mark.parametrize(
    "url",
    [
        "https://eks.eu-west-1.amazonaws.com/clusters/orders",
        "https://eks.eu-west-1.amazonaws.com:443/clusters/orders",
        "http://127.0.0.1:5000/clusters/a%20b%2Fc",
    ],
)
def test_signed_headers_are_botocores_byte_for_byte(url: str, token: str | None) -> None:
    keys = SigningKeys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    request = AWSRequest(method="GET", url=url, headers={})
    SigV4Auth(Credentials(keys.access_key, keys.secret_key, token), "eks", "eu-west-1").add_auth(request)
    when = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ours = sign_headers(method="GET", url=url, region="eu-west-1", service="eks", keys=keys, when=when)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


async def test_describe_reads_moto_like_botocore_and_keeps_one_session(
    moto_env: dict[str, str], ca_pem: bytes
) -> None:
    await create_moto_cluster("billing", "eu-west-1", endpoint="https://BIL.eks.amazonaws.com", ca=ca_pem)
    async with AWSClientPool() as pool:
        ctx = await pool.context(region="eu-west-1")
        answer = await ctx.describe_cluster("billing")
        client = await ctx.eks_client()
        theirs = await client.describe_cluster(name="billing")
        again = await describe_cluster(pool, cluster_name="billing", region="eu-west-1")
    for field in ("name", "arn", "endpoint", "status", "certificateAuthority", "tags"):
        assert answer["cluster"].get(field) == theirs["cluster"].get(field)
    assert answer["cluster"]["arn"] == f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/billing"
    assert again.ca_data == ca_pem


@asynccontextmanager
async def serving(handler: Any, *, tls: trustme.CA | None = None) -> AsyncIterator[str]:
    """An HTTP(S) server on 127.0.0.1 answering every request with ``handler``."""
    import ssl

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.issue_cert("127.0.0.1").configure_cert(context)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_flooding_eks_endpoint_is_cut_at_the_cap(
    static_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = 0

    async def flood(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b" " * 65536
        try:
            for _ in range(20 * MAX_ANSWER_BYTES // len(chunk)):  # 20 MiB of JSON whitespace
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return response

    async with serving(flood) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", url)
        async with AWSClientPool() as pool:
            with pytest.raises(EKSAuthError) as info:
                await describe_cluster(pool, cluster_name="c", region="us-east-1")
    assert info.value.kind is EKSAuthErrorKind.NetworkError
    assert "larger than 1024 KiB" in str(info.value)
    assert sent < 10 * MAX_ANSWER_BYTES  # the client stopped reading and hung up


async def test_the_aws_ca_bundle_decides_whom_describe_trusts(
    static_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = trustme.CA()

    async def not_found(request: web.Request) -> web.Response:
        assert request.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
        return web.json_response(
            {"message": "No cluster found for name: c."},
            status=404,
            headers={"x-amzn-ErrorType": "ResourceNotFoundException:http://internal.amazon.com/"},
        )

    async with serving(not_found, tls=ca) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", url)
        async with AWSClientPool() as pool:  # botocore's bundle: the private CA is not in it
            with pytest.raises(EKSAuthError) as info:
                await describe_cluster(pool, cluster_name="c", region="us-east-1")
        assert info.value.kind is EKSAuthErrorKind.NetworkError
        bundle = tmp_path / "ca.pem"
        bundle.write_bytes(ca.cert_pem.bytes())
        monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
        async with AWSClientPool() as pool:
            with pytest.raises(EKSAuthError) as info:
                await describe_cluster(pool, cluster_name="c", region="us-east-1")
    assert info.value.kind is EKSAuthErrorKind.ClusterNotFound
    assert "no EKS cluster named 'c' in us-east-1" in str(info.value)


async def test_an_answer_that_is_not_json_is_a_clear_error(
    static_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>captive portal</html>", content_type="text/html")

    async with serving(html) as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", url)
        async with AWSClientPool() as pool:
            with pytest.raises(EKSAuthError) as info:
                await describe_cluster(pool, cluster_name="c", region="us-east-1")
    assert "InvalidResponse" in str(info.value) and "not JSON" in str(info.value)

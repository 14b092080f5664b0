"""The AWS side against moto on loopback: DescribeCluster, role assumption, error kinds."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from eks_helpers import ACCOUNT, b64, decode_token, url_parts

from kom_async.auth.eks.aws import AWSClientPool, describe_cluster
from kom_async.auth.eks.aws_errors import map_aws_error
from kom_async.auth.eks.native import NativeEKSTokenSource
from kom_async.eks import EKSAuthConfig, get_token
from kom_async.errors import EKSAuthError, EKSAuthErrorKind


async def create_moto_cluster(
    name: str, region: str, *, endpoint: str | None = None, ca: bytes | None = None, status: str | None = None
) -> None:
    """Create a cluster through moto's API, then set what real EKS would report."""
    from aiobotocore.session import AioSession
    from moto.eks.models import eks_backends

    async with AioSession().create_client("eks", region_name=region) as eks:
        await eks.create_cluster(
            name=name,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-1"]},
        )
    cluster = eks_backends[ACCOUNT][region].clusters[name]
    if endpoint is not None:
        cluster.endpoint = endpoint
    if ca is not None:
        cluster.certificate_authority = {"data": b64(ca)}
    if status is not None:
        cluster.status = status


async def test_describe_cluster_returns_the_endpoint_and_ca(moto_env: dict[str, str], ca_pem: bytes) -> None:
    await create_moto_cluster(
        "orders", "eu-west-1", endpoint="https://ORD.gr7.eu-west-1.eks.amazonaws.com", ca=ca_pem
    )
    async with AWSClientPool() as pool:
        found = await describe_cluster(pool, cluster_name="orders", region="eu-west-1")
        again = await describe_cluster(pool, cluster_name="orders", region="eu-west-1")
        assert len(pool) == 1
    assert found.endpoint == "https://ORD.gr7.eu-west-1.eks.amazonaws.com"
    assert found.ca_data == ca_pem
    assert found.status == "ACTIVE"
    assert found.arn == f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/orders"
    assert again == found
    assert "BEGIN CERTIFICATE" not in repr(found)


async def test_a_cluster_that_is_not_active_is_refused(moto_env: dict[str, str], ca_pem: bytes) -> None:
    await create_moto_cluster("creating", "eu-west-1", ca=ca_pem, status="CREATING")
    async with AWSClientPool() as pool:
        with pytest.raises(EKSAuthError) as info:
            await describe_cluster(pool, cluster_name="creating", region="eu-west-1")
    assert "CREATING, not ACTIVE" in str(info.value)
    assert info.value.cluster_id == "eu-west-1-creating"


async def test_an_unknown_cluster_is_cluster_not_found(moto_env: dict[str, str]) -> None:
    async with AWSClientPool() as pool:
        with pytest.raises(EKSAuthError) as info:
            await describe_cluster(pool, cluster_name="no-such-cluster", region="eu-west-1")
    assert info.value.kind is EKSAuthErrorKind.ClusterNotFound
    assert "no-such-cluster" in str(info.value)


async def test_no_credentials_anywhere_is_aws_config_missing(no_credentials_env: dict[str, str]) -> None:
    with pytest.raises(EKSAuthError) as info:
        await get_token(cluster_name="c", region="us-east-1")
    assert info.value.kind is EKSAuthErrorKind.AWSConfigMissing
    async with AWSClientPool() as pool:
        with pytest.raises(EKSAuthError) as info:
            await describe_cluster(pool, cluster_name="c", region="us-east-1")
        assert info.value.kind is EKSAuthErrorKind.AWSConfigMissing
        assert len(pool) == 0  # failures are not cached


async def test_an_unknown_profile_is_aws_config_missing(no_credentials_env: dict[str, str]) -> None:
    with pytest.raises(EKSAuthError) as info:
        await get_token(cluster_name="c", region="us-east-1", profile="nope")
    assert info.value.kind is EKSAuthErrorKind.AWSConfigMissing
    assert "nope" in str(info.value)


async def test_an_unreachable_endpoint_is_a_network_error(
    static_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    async with AWSClientPool() as pool:
        with pytest.raises(EKSAuthError) as info:
            await describe_cluster(pool, cluster_name="c", region="us-east-1")
    assert info.value.kind is EKSAuthErrorKind.NetworkError


async def test_role_arn_tokens_are_signed_by_the_assumed_role(moto_env: dict[str, str]) -> None:
    from moto.sts.models import sts_backends

    role = f"arn:aws:iam::{ACCOUNT}:role/eks-admin"
    config = EKSAuthConfig(cluster_name="orders", region="eu-west-1", role_arn=role, external_id="xid-1")
    assumed_before = len(sts_backends[ACCOUNT]["aws"].assumed_roles)
    async with AWSClientPool() as pool:
        source = NativeEKSTokenSource(config, pool=pool)
        first, second = await source.fetch(), await source.fetch()
        other = NativeEKSTokenSource(
            EKSAuthConfig("billing", region="eu-west-1", role_arn=role, external_id="xid-1"), pool=pool
        )
        third = await other.fetch()
    assumed = sts_backends[ACCOUNT]["aws"].assumed_roles[assumed_before:]
    assert len(assumed) == 1, "assumed-role credentials are reused until close to expiry"
    session = assumed[0]
    assert session.role_arn == role
    assert session.session_name == "kom-async"
    assert session.external_id == "xid-1"
    for token in (first, second, third):
        query = url_parts(decode_token(token.value))[3]
        assert query["X-Amz-Credential"].startswith(session.access_key_id + "/")
        assert query["X-Amz-Security-Token"] == session.session_token


async def test_aws_calls_never_log_secrets_even_at_debug(
    moto_env: dict[str, str], ca_pem: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """botocore at DEBUG prints presigned URLs, headers and AssumeRole bodies; not for us."""
    from moto.sts.models import sts_backends

    await create_moto_cluster("quiet", "eu-west-1", ca=ca_pem)
    role = f"arn:aws:iam::{ACCOUNT}:role/quiet"
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "aiobotocore"):
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.clear()
    async with AWSClientPool() as pool:
        plain = await NativeEKSTokenSource(EKSAuthConfig("quiet", region="eu-west-1"), pool=pool).fetch()
        assumed = await NativeEKSTokenSource(
            EKSAuthConfig("quiet", region="eu-west-1", role_arn=role), pool=pool
        ).fetch()
        await describe_cluster(pool, cluster_name="quiet", region="eu-west-1", role_arn=role)
    session = sts_backends[ACCOUNT]["aws"].assumed_roles[-1]
    secrets = [
        plain.value,
        assumed.value,
        moto_env["AWS_SECRET_ACCESS_KEY"],
        session.secret_access_key,
        session.session_token,
        "X-Amz-Signature",
    ]
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret not in text
    # records of our calls only: the in-process moto server logs from its own threads (e.g.
    # "Loading JSON file" the first time it serves STS, which depends on test order)
    ours = [
        r
        for r in caplog.records
        if r.name.startswith(("botocore", "aiobotocore")) and r.thread == threading.get_ident()
    ]
    assert ours, "botocore did log (INFO) during our calls"
    assert [r.getMessage() for r in ours if r.levelno < logging.INFO] == []


def client_error(code: str, message: str = "boom") -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, "AssumeRole")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("AccessDenied"), EKSAuthErrorKind.PermissionDenied),
        (client_error("AccessDeniedException"), EKSAuthErrorKind.PermissionDenied),
        (client_error("InvalidClientTokenId"), EKSAuthErrorKind.InvalidCredentials),
        (client_error("ExpiredToken"), EKSAuthErrorKind.InvalidCredentials),
        (client_error("SignatureDoesNotMatch"), EKSAuthErrorKind.InvalidCredentials),
        (client_error("ResourceNotFoundException"), EKSAuthErrorKind.ClusterNotFound),
        (client_error("ThrottlingException"), EKSAuthErrorKind.NetworkError),
    ],
)
def test_aws_errors_map_to_eks_auth_error_kinds(exc: Exception, kind: EKSAuthErrorKind) -> None:
    error = map_aws_error(exc, action="AssumeRole", cluster_id="c1")
    assert error.kind is kind
    assert error.cluster_id == "c1"


def test_botocore_exceptions_map_to_kinds() -> None:
    from botocore import exceptions as bexc

    cases: list[tuple[Any, EKSAuthErrorKind]] = [
        (bexc.NoCredentialsError(), EKSAuthErrorKind.AWSConfigMissing),
        (
            bexc.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            EKSAuthErrorKind.AWSConfigMissing,
        ),
        (bexc.ProfileNotFound(profile="x"), EKSAuthErrorKind.AWSConfigMissing),
        (bexc.NoRegionError(), EKSAuthErrorKind.AWSConfigMissing),
        (bexc.EndpointConnectionError(endpoint_url="https://sts.x"), EKSAuthErrorKind.NetworkError),
        (bexc.ConnectTimeoutError(endpoint_url="https://sts.x"), EKSAuthErrorKind.NetworkError),
        (bexc.UnauthorizedSSOTokenError(), EKSAuthErrorKind.InvalidCredentials),
        (TimeoutError(), EKSAuthErrorKind.NetworkError),
    ]
    for exc, kind in cases:
        assert map_aws_error(exc, action="x").kind is kind, exc


def test_error_messages_never_carry_secret_shaped_strings() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY0123"
    error = map_aws_error(client_error("InvalidClientTokenId", f"bad key {secret}"), action="x")
    assert secret not in str(error)

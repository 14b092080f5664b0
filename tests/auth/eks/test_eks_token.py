"""Native EKS tokens: the format, byte equality with the AWS CLI, and exec env layering."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eks_helpers import (
    ACCESS_KEY,
    SECRET_KEY,
    FrozenClock,
    aws_cli_token,
    decode_token,
    signing_time,
    url_parts,
)

from kom_async.auth.eks.aws import AWSClientPool, quiet_aws_logs
from kom_async.auth.eks.native import NativeEKSTokenSource
from kom_async.auth.eks.sign import presign_eks_url
from kom_async.auth.token import TokenSource
from kom_async.eks import EKSAuthConfig, ExecConfig, eks_config_from_exec

FROZEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


async def test_a_token_is_a_presigned_get_caller_identity_url(static_env: dict[str, str]) -> None:
    async with AWSClientPool() as pool:
        source = NativeEKSTokenSource(
            EKSAuthConfig(cluster_name="my-cluster", region="eu-west-1"), pool=pool, clock=FrozenClock(FROZEN)
        )
        assert isinstance(source, TokenSource)
        assert source.kind == "eks-native"
        token = await source.fetch()
        await source.aclose()
    assert token.value.startswith("k8s-aws-v1.")
    assert "=" not in token.value
    url = decode_token(token.value)
    scheme, host, path, query = url_parts(url)
    assert (scheme, host, path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Date"] == "20260102T030405Z"
    assert query["X-Amz-Credential"] == f"{ACCESS_KEY}/20260102/eu-west-1/sts/aws4_request"
    assert "X-Amz-Security-Token" not in query
    assert len(query["X-Amz-Signature"]) == 64
    # expires 14 minutes after the (second-precision) signing time
    assert token.expires_at == datetime(2026, 1, 2, 3, 18, 5, tzinfo=UTC)
    assert signing_time(url) + timedelta(minutes=14) == token.expires_at
    assert token.value not in repr(token)
    assert SECRET_KEY not in url


async def test_the_presigner_matches_botocore_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's own presigner, with its clock frozen, yields the very same URL."""
    import botocore.auth
    from aiobotocore.session import AioSession

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: FROZEN.replace(tzinfo=None))
    session = AioSession()
    async with session.create_client(
        "sts",
        region_name="ap-southeast-2",
        aws_access_key_id="ASIAEXAMPLEKEY",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token="FwoGZXIvYXdzE/session+token==",
    ) as sts:

        def add_header(request: object, **_: object) -> None:
            request.headers["x-k8s-aws-id"] = "prod-cluster"  # type: ignore[attr-defined]

        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)
        with quiet_aws_logs():  # botocore would log the URL at DEBUG
            expected = await sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    ours = presign_eks_url(
        sts_url="https://sts.ap-southeast-2.amazonaws.com/",
        region="ap-southeast-2",
        k8s_aws_id="prod-cluster",
        access_key="ASIAEXAMPLEKEY",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token="FwoGZXIvYXdzE/session+token==",
        when=FROZEN,
    )
    assert ours == expected


TEAM_KEY = "AKIATEAMPROFILE00001"
TEAM_SECRET = "teamProfileSecretKey000000000000000000001"
EXEC_KEY = "AKIAEXECENVKEY000001"
EXEC_SECRET = "execEnvSecretKey00000000000000000000000001"


@pytest.fixture
def profile_files(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "team-config"
    config.write_text(
        "[profile team]\nregion = ap-southeast-2\n\n"
        "[profile edge]\nregion = eu-central-1\nendpoint_url = https://edge.internal.example:9443\n"
    )
    credentials = tmp_path / "team-credentials"
    credentials.write_text(
        f"[team]\naws_access_key_id = {TEAM_KEY}\naws_secret_access_key = {TEAM_SECRET}\n\n"
        f"[edge]\naws_access_key_id = {TEAM_KEY}\naws_secret_access_key = {TEAM_SECRET}\n"
    )
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


KEYS = {"AWS_ACCESS_KEY_ID": EXEC_KEY, "AWS_SECRET_ACCESS_KEY": EXEC_SECRET}

CASES: dict[str, tuple[list[str], dict[str, str]]] = {
    "keys in exec env, --region": (["--cluster-name", "blue", "--region", "eu-west-1"], KEYS),
    "session token, AWS_DEFAULT_REGION": (
        ["--cluster-name", "blue"],
        {**KEYS, "AWS_SESSION_TOKEN": "IQoJb3JpZ2luX2VjE/+session=token", "AWS_DEFAULT_REGION": "us-west-2"},
    ),
    "AWS_PROFILE and config files in exec env": (["--cluster-name", "green"], {"AWS_PROFILE": "team"}),
    "AWS_ENDPOINT_URL_STS": (
        ["--cluster-name", "blue", "--region", "eu-west-1"],
        {**KEYS, "AWS_ENDPOINT_URL_STS": "https://sts.internal.example:8443"},
    ),
    "AWS_ENDPOINT_URL": (
        ["--cluster-name", "blue", "--region", "eu-west-1"],
        {**KEYS, "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
    ),
    "--profile with endpoint_url beats env keys": (["--cluster-name", "edge-c", "--profile", "edge"], KEYS),
    "env keys beat AWS_PROFILE": (
        ["--cluster-name", "blue", "--region", "us-east-2"],
        {**KEYS, "AWS_PROFILE": "team"},
    ),
    "no region: the global endpoint": (["--cluster-name", "blue"], KEYS),
    "AWS_STS_REGIONAL_ENDPOINTS=legacy": (
        ["--cluster-name", "blue", "--region", "us-east-1"],
        {**KEYS, "AWS_STS_REGIONAL_ENDPOINTS": "legacy"},
    ),
    "--cluster-id": (["--cluster-id", "0123abcd-outpost", "--region", "us-east-1"], KEYS),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_native_tokens_equal_the_aws_cli_tokens(
    case: str, aws_cli: str, no_credentials_env: dict[str, str], profile_files: dict[str, str]
) -> None:
    """Same credentials, region, cluster and second: the same URL, signature included."""
    args, env = CASES[case]
    if "AWS_PROFILE" in env or "--profile" in args:
        env = {**env, **profile_files}
    cli = decode_token(str(aws_cli_token(args, env)["status"]["token"]))  # type: ignore[index]
    config = eks_config_from_exec(ExecConfig(command=aws_cli, args=("eks", "get-token", *args), env=env))
    async with AWSClientPool() as pool:
        token = await NativeEKSTokenSource(config, pool=pool).fetch(at=signing_time(cli))
    ours = decode_token(token.value)
    assert url_parts(ours) == url_parts(cli)
    assert ours == cli


async def test_two_clusters_with_different_exec_env_share_one_process(
    no_credentials_env: dict[str, str],
) -> None:
    """Each cluster's exec env governs its own tokens; os.environ is never touched."""
    before = dict(os.environ)
    blue = ExecConfig(
        command="aws",
        args=("eks", "get-token", "--cluster-name", "blue", "--region", "eu-west-1"),
        env={
            "AWS_ACCESS_KEY_ID": "AKIABLUE000000000001",
            "AWS_SECRET_ACCESS_KEY": "blue-secret",
            "AWS_ENDPOINT_URL_STS": "https://sts.blue.example",
        },
    )
    red = ExecConfig(
        command="aws",
        args=("eks", "get-token", "--cluster-name", "red", "--region", "eu-west-1"),
        env={
            "AWS_ACCESS_KEY_ID": "AKIARED0000000000001",
            "AWS_SECRET_ACCESS_KEY": "red-secret",
            "AWS_ENDPOINT_URL_STS": "https://sts.red.example:8443",
        },
    )
    async with AWSClientPool() as pool:
        sources = [NativeEKSTokenSource(eks_config_from_exec(e), pool=pool) for e in (blue, red, blue)]
        tokens = await asyncio.gather(*(s.fetch() for s in sources))
        assert len(pool) == 2  # the two blue sources share one AWS identity
    urls = [url_parts(decode_token(t.value)) for t in tokens]
    assert urls[0][1] == "sts.blue.example"
    assert urls[0][3]["X-Amz-Credential"].startswith("AKIABLUE000000000001/")
    assert urls[1][1] == "sts.red.example:8443"
    assert urls[1][3]["X-Amz-Credential"].startswith("AKIARED0000000000001/")
    assert urls[2][1] == "sts.blue.example"
    assert dict(os.environ) == before
    assert "AWS_ACCESS_KEY_ID" not in os.environ


async def test_the_process_env_still_applies_under_the_exec_env(
    static_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exec env is layered over os.environ: unset names fall through to the process."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "https://sts.process.example")
    layered = ExecConfig(
        command="aws",
        args=("eks", "get-token", "--cluster-name", "c", "--region", "eu-west-1"),
        env={"AWS_DEFAULT_OUTPUT": "json"},
    )
    async with AWSClientPool() as pool:
        token = await NativeEKSTokenSource(eks_config_from_exec(layered), pool=pool).fetch()
    _, host, _, query = url_parts(decode_token(token.value))
    assert host == "sts.process.example"
    assert query["X-Amz-Credential"].startswith(ACCESS_KEY + "/")


async def test_sources_for_one_identity_share_the_pooled_session(static_env: dict[str, str]) -> None:
    async with AWSClientPool() as pool:
        a = NativeEKSTokenSource(EKSAuthConfig("a", region="eu-west-1"), pool=pool)
        b = NativeEKSTokenSource(EKSAuthConfig("b", region="eu-west-1"), pool=pool)
        c = NativeEKSTokenSource(EKSAuthConfig("c", region="us-east-1"), pool=pool)
        await asyncio.gather(a.fetch(), b.fetch(), c.fetch(), a.fetch())
        assert len(pool) == 2
    assert len(pool) == 0
    assert "closed=True" in repr(pool)


async def test_exec_env_keys_win_over_process_env_keys(static_env: dict[str, str]) -> None:
    exec_config = ExecConfig(
        command="aws",
        args=("eks", "get-token", "--cluster-name", "c", "--region", "eu-west-1"),
        env={"AWS_ACCESS_KEY_ID": EXEC_KEY, "AWS_SECRET_ACCESS_KEY": EXEC_SECRET},
    )
    async with AWSClientPool() as pool:
        from_exec = await NativeEKSTokenSource(eks_config_from_exec(exec_config), pool=pool).fetch()
        from_process = await NativeEKSTokenSource(EKSAuthConfig("c", region="eu-west-1"), pool=pool).fetch()
    assert url_parts(decode_token(from_exec.value))[3]["X-Amz-Credential"].startswith(EXEC_KEY + "/")
    assert url_parts(decode_token(from_process.value))[3]["X-Amz-Credential"].startswith(ACCESS_KEY + "/")

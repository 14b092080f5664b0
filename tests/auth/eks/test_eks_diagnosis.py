"""A refused EKS token names its real cause: bad AWS credentials, or an unmapped identity."""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import replace
from typing import Any

import pytest
from kubernetes_asyncio.client import CoreV1Api

from kom_async import Clusters
from kom_async.errors import EKSAuthError, EKSAuthErrorKind

lab_module = pytest.importorskip("kom_async.lab", reason="the offline lab is not available")
EKSLab = lab_module.EKSLab

WRONG_SECRET = "wRoNgSeCrEtWrOnGsEcReTwRoNgSeCrEt0000000"


def _secrets(env: dict[str, str]) -> list[str]:
    return [v for k, v in env.items() if k in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]


def _no_secret_in(error: BaseException, env: dict[str, str]) -> None:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(f"{e!s} {e!r}" for e in chain)
    for secret in [*_secrets(env), WRONG_SECRET]:
        assert secret not in text


def _bad_secret_env(lab: Any) -> tuple[dict[str, str], str]:
    cred = lab.create_user("typo", map_as="typo")
    env = {**lab.env_for(cred), "AWS_SECRET_ACCESS_KEY": WRONG_SECRET}
    lab.sts_refuse_key(cred.access_key_id, "SignatureDoesNotMatch")  # as AWS answers a wrong secret
    return env, cred.access_key_id


async def test_a_wrong_secret_fails_a_verified_registration_as_invalid_credentials(eks_lab: Any) -> None:
    env, key = _bad_secret_env(eks_lab)
    async with Clusters() as clusters:
        with pytest.raises(EKSAuthError) as caught:
            await clusters.register_eks("lab", "us-east-1", env=env, verify=True)
        assert "lab" not in clusters and "us-east-1-lab" not in clusters
    error = caught.value
    assert error.kind is EKSAuthErrorKind.InvalidCredentials
    assert key[:8] in str(error) and key not in str(error)  # the prefix, not the whole key id
    assert "AWS_ACCESS_KEY_ID" in str(error) and "register_eks(env=...)" in str(
        error
    )  # where the keys came from
    assert "kubeconfig" not in str(error)  # registered by name: no kubeconfig is involved
    assert "SignatureDoesNotMatch" in str(error)
    assert error.__cause__ is not None and "SignatureDoesNotMatch" in str(error.__cause__)
    assert eks_lab.stats("lab").tokens_accepted == 0  # no token reached the cluster first
    _no_secret_in(error, env)


async def test_a_wrong_secret_is_invalid_credentials_after_the_retry(eks_lab: Any) -> None:
    env, _ = _bad_secret_env(eks_lab)
    async with Clusters() as clusters:
        k = await clusters.register_eks("lab", "us-east-1", env=env)  # no verify: registration passes
        with pytest.raises(EKSAuthError) as caught:
            await CoreV1Api(k.api_client).list_namespace()  # one request
        stats = clusters.get("us-east-1-lab").auth_stats
    assert caught.value.kind is EKSAuthErrorKind.InvalidCredentials
    assert stats is not None and stats.auth_failures == {"InvalidCredentials": 1}
    assert stats.fetches == 2  # the first token and the one refresh; then the diagnosis
    _no_secret_in(caught.value, env)


async def test_an_expired_session_is_invalid_credentials(eks_lab: Any) -> None:
    cred = eks_lab.create_user("expired", map_as="expired")
    eks_lab.sts_refuse_key(cred.access_key_id, "ExpiredToken")
    env = eks_lab.env_for(cred)
    async with Clusters() as clusters:
        with pytest.raises(EKSAuthError) as caught:
            await clusters.register_eks("lab", "us-east-1", env=env, verify=True)
    assert caught.value.kind is EKSAuthErrorKind.InvalidCredentials
    assert "ExpiredToken" in str(caught.value)


async def test_a_valid_but_unmapped_identity_is_permission_denied_naming_its_arn(eks_lab: Any) -> None:
    cred = eks_lab.create_user("stranger")  # valid keys, no access entry / aws-auth mapping
    env = eks_lab.env_for(cred)
    async with Clusters() as clusters:
        with pytest.raises(EKSAuthError) as at_registration:
            await clusters.register_eks("lab", "us-east-1", env=env, verify=True)
        k = await clusters.register_eks("lab", "us-east-1", env=env)
        with pytest.raises(EKSAuthError) as later:
            await k.resource("Namespace").list()
    for caught in (at_registration, later):
        message = str(caught.value)
        assert caught.value.kind is EKSAuthErrorKind.PermissionDenied
        assert cred.arn in message
        assert "access entry" in message and "aws-auth" in message
        _no_secret_in(caught.value, env)


async def test_a_role_session_is_reported_as_its_role(eks_lab: Any) -> None:
    role_arn = await eks_lab.create_role("unmapped-role")
    async with Clusters() as clusters:
        k = await clusters.register_eks("lab", "us-east-1", role_arn=role_arn, env=eks_lab.aws_env)
        with pytest.raises(EKSAuthError) as caught:
            await k.resource("Namespace").list()
    assert caught.value.kind is EKSAuthErrorKind.PermissionDenied
    assert role_arn in str(caught.value)  # the IAM role an access entry names, not the session


async def test_a_401_storm_checks_the_credentials_once(eks_lab: Any) -> None:
    env, _ = _bad_secret_env(eks_lab)
    async with Clusters() as clusters:
        k = await clusters.register_eks("lab", "us-east-1", env=env)
        before = eks_lab.aws_requests()["sts"]
        core = CoreV1Api(k.api_client)
        results = await asyncio.gather(*(core.list_namespace() for _ in range(20)), return_exceptions=True)
        calls = eks_lab.aws_requests()["sts"] - before
        stats = clusters.get("us-east-1-lab").auth_stats
    assert all(isinstance(r, EKSAuthError) and r.kind is EKSAuthErrorKind.InvalidCredentials for r in results)
    assert calls == 1  # single flight, and the outcome is reused within the interval
    assert stats is not None and stats.auth_failures["InvalidCredentials"] == 20


async def test_verify_passes_for_a_mapped_identity_and_logs_carry_the_region(
    eks_lab: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kom_async.auth")
    async with Clusters() as clusters:
        k = await clusters.register_eks("lab", "us-east-1", env=eks_lab.aws_env, verify=True)
        assert await k.resource("Namespace").list()
        stats = clusters.get("us-east-1-lab").auth_stats
    assert stats is not None and stats.auth_failures == {}
    records = [r for r in caplog.records if r.name.startswith("kom_async.auth")]
    assert records and all(getattr(r, "region", None) == "us-east-1" for r in records)
    assert replace(stats).auth_failures == {}


@pytest.mark.skipif(shutil.which("aws") is None, reason="needs the aws CLI as the exec plugin")
async def test_an_exec_plugin_user_gets_the_same_diagnosis(eks_lab: Any) -> None:
    cred = eks_lab.create_user("exec-stranger")  # valid keys, not mapped
    env = eks_lab.env_for(cred)
    text = eks_lab.kubeconfig("lab", env=env)  # aws eks get-token with these keys
    async with Clusters() as clusters:
        k = await clusters.register_by_string(text, cluster_id="via-aws", token_source="exec")
        assert clusters.get("via-aws").auth_stats.source == "exec"  # type: ignore[union-attr]
        with pytest.raises(EKSAuthError) as caught:
            await CoreV1Api(k.api_client).list_namespace()
    assert caught.value.kind is EKSAuthErrorKind.PermissionDenied
    assert cred.arn in str(caught.value) and "access entry" in str(caught.value)
    _no_secret_in(caught.value, env)


async def test_verify_also_catches_a_bad_static_token_before_returning(eks_lab: Any) -> None:
    from kom_async.errors import Unauthorized

    text = eks_lab.kubeconfig("lab", static_token="not-a-valid-token")
    async with Clusters() as clusters:
        with pytest.raises(Unauthorized):
            await clusters.register_by_string(text, cluster_id="static", verify=True)
        assert "static" not in clusters
        await clusters.register_by_string(text, cluster_id="static")  # unverified: accepted as before


async def test_a_storm_of_refused_requests_logs_a_few_lines_not_one_each(
    eks_lab: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cred = eks_lab.create_user("noisy")  # valid, unmapped
    caplog.set_level(logging.WARNING, logger="kom_async.auth")
    async with Clusters() as clusters:
        k = await clusters.register_eks("lab", "us-east-1", env=eks_lab.env_for(cred))
        core = CoreV1Api(k.api_client)
        await asyncio.gather(*(core.list_namespace() for _ in range(64)), return_exceptions=True)
        stats = clusters.get("us-east-1-lab").auth_stats
    assert stats is not None and stats.auth_failures == {"PermissionDenied": 64}
    lines = [r for r in caplog.records if "failed authentication" in r.getMessage()]
    assert len(lines) == 7  # 1, 2, 4, 8, 16, 32, 64
    assert all(r.region == "us-east-1" and r.cluster == "us-east-1-lab" for r in lines)  # type: ignore[attr-defined]

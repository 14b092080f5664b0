"""An InvalidCredentials error names where the refused AWS keys came from, for each way a
cluster is registered: the kubeconfig's exec env, ``register_eks(env=...)``, or the process's
own environment variables. Played against the lab's STS, which refuses the key as AWS does."""

from __future__ import annotations

from typing import Any

import pytest

from kom_async import Clusters
from kom_async.errors import EKSAuthError, EKSAuthErrorKind

WRONG_SECRET = "wRoNgSeCrEtWrOnGsEcReTwRoNgSeCrEt0000000"


def refused_env(lab: Any, name: str) -> dict[str, str]:
    cred = lab.create_user(name, map_as=name)
    lab.sts_refuse_key(cred.access_key_id, "SignatureDoesNotMatch")
    return {**lab.env_for(cred), "AWS_SECRET_ACCESS_KEY": WRONG_SECRET}


async def verified_failure(register: Any) -> str:
    with pytest.raises(EKSAuthError) as caught:
        await register
    assert caught.value.kind is EKSAuthErrorKind.InvalidCredentials
    text = str(caught.value)
    assert WRONG_SECRET not in text
    return text


async def test_keys_from_a_kubeconfigs_exec_env_are_named_so(eks_lab: Any) -> None:
    env = refused_env(eks_lab, "kubeconfig-user")
    kubeconfig = eks_lab.kubeconfig("lab", env=env)
    async with Clusters() as clusters:
        text = await verified_failure(
            clusters.register_by_string(kubeconfig, token_source="native", verify=True)
        )
    assert "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the kubeconfig's exec env" in text
    assert "register_eks" not in text


async def test_keys_passed_to_register_eks_by_name_are_named_so(eks_lab: Any) -> None:
    env = refused_env(eks_lab, "by-name-user")
    async with Clusters() as clusters:
        text = await verified_failure(clusters.register_eks("lab", "us-east-1", env=env, verify=True))
    assert "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY passed in register_eks(env=...)" in text
    assert "kubeconfig" not in text


async def test_keys_from_the_process_environment_are_named_so(
    eks_lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = refused_env(eks_lab, "process-user")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    async with Clusters() as clusters:
        text = await verified_failure(clusters.register_eks("lab", "us-east-1", verify=True))
    assert "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables" in text
    assert "kubeconfig" not in text and "register_eks(env" not in text

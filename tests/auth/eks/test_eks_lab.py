"""End to end on the offline lab: its API server verifies our tokens the way EKS does."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kom_async.auth.eks.aws import AWSClientPool, describe_cluster
from kom_async.auth.eks.native import NativeEKSTokenSource, native_unsupported_reason
from kom_async.eks import EKSAuthConfig, parse_eks_config
from kom_async.errors import EKSAuthError, EKSAuthErrorKind

lab_module = pytest.importorskip("kom_async.lab", reason="the offline lab is not available")
EKSLab = lab_module.EKSLab


@pytest.fixture
async def lab() -> AsyncIterator[Any]:
    async with EKSLab() as running:
        await running.create_cluster("c1")
        yield running


async def list_pods(lab: Any, server: str, token: str) -> tuple[int, dict[str, Any]]:
    """GET /api/v1/pods with a bearer token, trusting the lab CA."""
    context = ssl.create_default_context(cadata=lab.ca_pem)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{server}/api/v1/pods", headers={"Authorization": f"Bearer {token}"}, ssl=context
        ) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def test_native_tokens_from_a_lab_kubeconfig_are_accepted(lab: Any) -> None:
    config = parse_eks_config(lab.kubeconfig("c1"))
    assert native_unsupported_reason(config) is None
    async with AWSClientPool() as pool:
        token = await NativeEKSTokenSource(config, pool=pool).fetch()
    status, body = await list_pods(lab, lab.cluster("c1").server, token.value)
    assert status == 200, body
    assert {p["metadata"]["name"] for p in body["items"]} >= {"web-0", "coredns-0"}


async def test_a_token_for_another_cluster_name_is_rejected(lab: Any) -> None:
    config = EKSAuthConfig(cluster_name="not-c1", region="us-east-1", env=lab.aws_env)
    async with AWSClientPool() as pool:
        token = await NativeEKSTokenSource(config, pool=pool).fetch()
    status, body = await list_pods(lab, lab.cluster("c1").server, token.value)
    assert status == 401
    assert body["kind"] == "Status"


async def test_role_arn_tokens_authenticate_as_the_assumed_role(lab: Any) -> None:
    role = await lab.create_role("eks-admins", map_as="role-admin")
    lab.unmap(lab.admin_arn)  # the lab user itself may no longer log in
    server = lab.cluster("c1").server
    async with AWSClientPool() as pool:
        plain = await NativeEKSTokenSource(
            EKSAuthConfig("c1", region="us-east-1", env=lab.aws_env), pool=pool
        ).fetch()
        assumed = await NativeEKSTokenSource(
            parse_eks_config(lab.kubeconfig("c1", role_arn=role)), pool=pool
        ).fetch()
    assert (await list_pods(lab, server, plain.value))[0] == 401
    status, body = await list_pods(lab, server, assumed.value)
    assert status == 200, body


async def test_describe_cluster_finds_the_lab_endpoint_and_ca(lab: Any) -> None:
    await lab.create_cluster("c2", seed=False)
    await lab.create_cluster("booting", status="CREATING", seed=False)
    async with AWSClientPool() as pool:
        found = await describe_cluster(pool, cluster_name="c2", region="us-east-1", env=lab.aws_env)
        assert found.endpoint == lab.cluster("c2").server
        assert found.ca_data == lab.ca_pem.encode()
        with pytest.raises(EKSAuthError) as info:
            await describe_cluster(pool, cluster_name="booting", region="us-east-1", env=lab.aws_env)
        assert "not ACTIVE" in str(info.value)
        with pytest.raises(EKSAuthError) as info:
            await describe_cluster(pool, cluster_name="ghost", region="us-east-1", env=lab.aws_env)
        assert info.value.kind is EKSAuthErrorKind.ClusterNotFound
        assert len(pool) == 1


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kom_async.cli",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_prints_an_exec_credential_the_lab_accepts(lab: Any) -> None:
    code, out, err = await run_cli(
        "eks",
        "get-token",
        "--cluster-name",
        "c1",
        "--region",
        "us-east-1",
        env={
            **lab.aws_env,
            "KUBERNETES_EXEC_INFO": json.dumps({"apiVersion": "client.authentication.k8s.io/v1"}),
        },
    )
    assert code == 0, err
    credential = json.loads(out)
    assert credential["kind"] == "ExecCredential"
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1"
    status, _ = await list_pods(lab, lab.cluster("c1").server, credential["status"]["token"])
    assert status == 200


async def test_kubectl_with_an_exec_user_running_our_cli_lists_pods(lab: Any, tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH")
    path = lab.write_kubeconfig(
        tmp_path / "kubeconfig",
        "c1",
        exec_command=sys.executable,
        exec_args=[
            "-m",
            "kom_async.cli",
            "eks",
            "get-token",
            "--cluster-name",
            "c1",
            "--region",
            "us-east-1",
        ],
    )
    proc = await asyncio.create_subprocess_exec(
        kubectl,
        "--kubeconfig",
        str(path),
        "get",
        "pods",
        "-A",
        "-o",
        "name",
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "pod/web-0" in out.decode()
    assert "pod/coredns-0" in out.decode()

"""The real ``kom-async eks get-token`` keeps one cache entry per cluster, region and role: a
token cached for one of them is never printed for another (``--cluster-name c2`` never gets
c1's token), checked with the lab's AWS and API server."""

from __future__ import annotations

import base64
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

import anyio

from kom_async import Clusters
from kom_async.lab import EKSLab


def credential_scope(token: str) -> list[str]:
    """``[access key, date, region, service, "aws4_request"]`` of the URL inside an EKS token."""
    body = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    return parse_qs(urlsplit(url).query)["X-Amz-Credential"][0].split("/")


async def get_token(lab: EKSLab, *args: str) -> str:
    """One ``kom-async eks get-token`` process with the lab's AWS setup (the cache is the test's)."""
    done = await anyio.run_process(
        [sys.executable, "-m", "kom_async.cli", "eks", "get-token", *args], env={**os.environ, **lab.aws_env}
    )
    token: str = json.loads(done.stdout)["status"]["token"]
    return token


async def test_each_cluster_region_and_role_gets_its_own_cached_token(lab: EKSLab) -> None:
    await lab.create_cluster("c1")
    c2 = await lab.create_cluster("c2")
    role = await lab.create_role("cache-key-reader", map_as="reader")
    first = await get_token(lab, "--cluster-name", "c1", "--region", lab.region)
    assert (
        await get_token(lab, "--cluster-name", "c1", "--region", lab.region) == first
    )  # the cache serves it

    other_cluster = await get_token(lab, "--cluster-name", "c2", "--region", lab.region)
    assert other_cluster != first
    async with Clusters() as clusters:  # c2's API server accepts it: a token for c2
        await clusters.register_by_string(lab.kubeconfig(c2.name, static_token=other_cluster), verify=True)

    other_region = await get_token(lab, "--cluster-name", "c1", "--region", "eu-west-1")
    assert other_region != first
    assert credential_scope(other_region)[2] == "eu-west-1"

    with_role = await get_token(lab, "--cluster-name", "c1", "--region", lab.region, "--role-arn", role)
    assert with_role != first
    assert credential_scope(with_role)[0] != credential_scope(first)[0]  # the role's session keys

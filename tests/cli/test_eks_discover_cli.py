"""``kom-async eks discover`` as a real subprocess against the lab's AWS: every output format,
failures on stderr, and the exit status (0 complete, 1 when any (account, region) failed)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

import pytest_asyncio
import yaml

from kom_async.lab import EKSLab


@pytest_asyncio.fixture
async def lab() -> AsyncIterator[EKSLab]:
    async with EKSLab() as lab:
        yield lab


async def kom(lab: EKSLab, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(lab.aws_env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kom_async.cli",
        "eks",
        "discover",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_discover_lists_two_accounts_clusters_in_every_format(lab: EKSLab) -> None:
    first, second = await lab.create_account(), await lab.create_account()
    await lab.create_cluster("shop", "us-east-1", account=first, seed=False, tags={"team": "shop"})
    await lab.create_cluster("pay", "eu-west-1", account=second, seed=False, tags={"team": "pay"})
    roles = ["--role-arn", first.role_arn, "--role-arn", second.role_arn]
    regions = ["--region", "us-east-1", "--region", "eu-west-1"]
    shop, pay = f"{first.account_id}-us-east-1-shop", f"{second.account_id}-eu-west-1-pay"

    code, out, err = await kom(lab, *regions, *roles)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["id", "account", "region", "name", "status"]
    assert sorted(line.split()[0] for line in lines[1:-1]) == sorted([shop, pay])
    assert lines[-1] == "2 found, 0 failed"

    code, out, _ = await kom(lab, *regions, *roles, "-o", "json")
    doc = json.loads(out)
    assert code == 0 and doc["found"] == 2 and doc["failures"] == []
    assert {c["id"]: c["tags"] for c in doc["clusters"]} == {shop: {"team": "shop"}, pay: {"team": "pay"}}
    assert doc["calls"] == {"ListClusters": 4, "DescribeCluster": 2}

    code, out, _ = await kom(lab, *regions, *roles, "--tag", "team=pay", "-o", "name")
    assert (code, out) == (0, f"{pay}\n")

    code, out, _ = await kom(lab, *regions, *roles, "--name-filter", "sh*", "-o", "yaml")
    assert [c["id"] for c in yaml.safe_load(out)["clusters"]] == [shop]


async def test_a_denied_region_is_printed_on_stderr_and_exits_1_with_the_rest_listed(lab: EKSLab) -> None:
    await lab.create_cluster("kept", "us-east-1", seed=False)
    lab.deny_aws(region="eu-west-1")
    code, out, err = await kom(lab, "--region", "us-east-1", "--region", "eu-west-1", "-o", "name")
    assert code == 1
    assert out == f"{lab.account_id}-us-east-1-kept\n"
    assert err.startswith("failed: eu-west-1 with the default AWS identity") and "AccessDenied" in err
    assert lab.aws_env["AWS_SECRET_ACCESS_KEY"] not in out + err


async def test_usage_mistakes_exit_2(lab: EKSLab) -> None:
    code, out, err = await kom(lab, "--region", "us-east-1", "--tag", "no-equals-sign")
    assert (code, out) == (2, "") and "--tag takes KEY=VALUE" in err
    code, out, err = await kom(lab)
    assert (code, out) == (2, "") and "--region" in err

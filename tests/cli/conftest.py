"""Fixtures for the CLI tests: a lab with two good clusters and a folder of kubeconfigs; clean AWS
environments for ``kom-async eks`` (aws_env.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aws_env import empty_aws_files, no_credentials_env, static_env

from kom_async.lab import EKSLab

__all__ = ["empty_aws_files", "kubeconfig_dir", "lab", "no_credentials_env", "static_env"]


@pytest.fixture
async def lab() -> AsyncIterator[EKSLab]:
    async with EKSLab() as the_lab:
        yield the_lab


@pytest.fixture
async def kubeconfig_dir(lab: EKSLab, tmp_path: Path) -> Path:
    """prod (EKS, aws eks get-token kubeconfig), staging (static token), and two broken ones:
    closed (a port nobody listens on) and revoked (a token the API server refuses)."""
    await lab.create_cluster("prod")
    await lab.create_cluster("staging", region="eu-west-1")
    folder = tmp_path / "kubeconfigs"
    folder.mkdir()
    lab.write_kubeconfig(folder / "prod.yaml", "prod")
    lab.write_kubeconfig(folder / "staging.yaml", "staging", static_token=True)
    lab.write_kubeconfig(folder / "revoked.yaml", "staging", static_token="revoked-or-never-valid")
    origin = lab.cluster("prod").server.split("/clusters/")[0]
    closed = lab.kubeconfig("prod", static_token=True).replace(origin, "https://127.0.0.1:9")
    (folder / "closed.yaml").write_text(closed)
    (folder / ".hidden").write_text("not a kubeconfig, skipped")
    return folder

"""AWS fixtures shared by tests/auth/eks and tests/cli (each conftest imports them): a loopback
moto server and clean AWS environments."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from eks_helpers import ACCESS_KEY, SECRET_KEY


def _clear_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("KUBERNETES_EXEC_INFO", "BOTO_CONFIG"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def empty_aws_files(tmp_path: Path) -> tuple[Path, Path]:
    config, credentials = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    return config, credentials


@pytest.fixture
def static_env(monkeypatch: pytest.MonkeyPatch, empty_aws_files: tuple[Path, Path]) -> dict[str, str]:
    """Static keys in the process env, no AWS config files, IMDS off: nothing leaves the host."""
    _clear_aws_env(monkeypatch)
    config, credentials = empty_aws_files
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def no_credentials_env(monkeypatch: pytest.MonkeyPatch, empty_aws_files: tuple[Path, Path]) -> dict[str, str]:
    """An environment with no AWS credentials anywhere (and IMDS disabled)."""
    _clear_aws_env(monkeypatch)
    config, credentials = empty_aws_files
    env = {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server on a free loopback port, shared by the session (served as the lab serves
    it: one ``Server`` header, which aiohttp's stricter parsers require)."""
    from kom_async.lab.aws import serve_moto, stop_moto

    server, thread, _app = serve_moto()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop_moto(server, thread)


@pytest.fixture
def moto_env(static_env: dict[str, str], moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Static keys and every AWS endpoint pointed at the loopback moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return {**static_env, "AWS_ENDPOINT_URL": moto_url}


@pytest.fixture(scope="session")
def ca_pem() -> bytes:
    import trustme

    return bytes(trustme.CA().cert_pem.bytes())


@pytest.fixture
def aws_cli() -> str:
    path = shutil.which("aws")
    if path is None:
        pytest.skip("the AWS CLI (`aws`) is not on PATH; token equivalence needs it")
    return path

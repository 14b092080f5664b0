"""``kom-async eks get-token`` caches tokens on disk: private files, right keys, never stale."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eks_helpers import ACCESS_KEY, SECRET_KEY, decode_token, url_parts

from kom_async.auth.eks.keys import botocore_target, env_region, quick_target
from kom_async.auth.eks.token_cache import TokenCache, cache_dir, cache_key
from kom_async.auth.timing import ADVISORY_WINDOW, RefreshPolicy
from kom_async.cli.eks import main
from kom_async.config.readfile import CACHE_MAX

ARGS = ["get-token", "--cluster-name", "c1", "--region", "eu-west-1"]


def _token(capsys: pytest.CaptureFixture[str], argv: list[str] = ARGS) -> dict[str, str]:
    assert main(argv) == 0
    status: dict[str, str] = json.loads(capsys.readouterr().out)["status"]
    return status


def _entries() -> list[Path]:
    return sorted(Path(cache_dir()).glob("eks-token-*.json"))


def test_a_second_call_serves_the_cached_token_from_a_private_file(
    static_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = _token(capsys)
    [entry] = _entries()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700
    text = entry.read_text()
    assert SECRET_KEY not in text
    assert first["token"] in text
    time.sleep(1.1)  # a new token would carry another X-Amz-Date
    assert _token(capsys) == first


def test_no_cache_neither_reads_nor_writes_the_cache(
    static_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _token(capsys, [*ARGS, "--no-cache"])
    assert _entries() == []
    first = _token(capsys)
    time.sleep(1.1)
    assert _token(capsys, [*ARGS, "--no-cache"])["token"] != first["token"]


def test_a_token_inside_the_margin_is_not_served(
    static_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # the margin is the SDK's own advisory window (a 15-minute token's is not scaled down)
    assert TokenCache().margin == ADVISORY_WINDOW == RefreshPolicy().advisory_window
    first = _token(capsys)
    [entry] = _entries()
    doc = json.loads(entry.read_text())
    cache = TokenCache()
    key = entry.name.removeprefix("eks-token-").removesuffix(".json")
    assert cache.load(key, now=doc["expires_at"] - ADVISORY_WINDOW - 1) is not None
    assert cache.load(key, now=doc["expires_at"] - ADVISORY_WINDOW) is None
    # an entry that is this close to expiry is replaced by a newly minted token
    doc["expires_at"] = time.time() + ADVISORY_WINDOW - 5
    entry.write_text(json.dumps(doc))
    time.sleep(1.1)
    second = _token(capsys)
    assert second["token"] != first["token"]
    assert json.loads(entry.read_text())["token"] == second["token"]


def test_each_identity_and_target_has_its_own_entry(static_env: dict[str, str]) -> None:
    base = {"cluster": "c1", "region": "eu-west-1", "profile": None, "role_arn": None}
    key = cache_key(**base)  # type: ignore[arg-type]
    variants = [
        {**base, "cluster": "c2"},
        {**base, "region": "us-east-1"},
        {**base, "profile": "other"},
        {**base, "role_arn": "arn:aws:iam::123456789012:role/r"},
        {**base, "cluster_id_flag": True},
        {**base, "environ": {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAANOTHERKEY000001"}},
        {**base, "environ": {**os.environ, "AWS_SECRET_ACCESS_KEY": "another-secret"}},
        {**base, "environ": {**os.environ, "AWS_PROFILE": "p2"}},
        {**base, "environ": {**os.environ, "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:1"}},
    ]
    keys = {cache_key(**v) for v in variants}  # type: ignore[arg-type]
    assert key not in keys and len(keys) == len(variants)
    assert cache_key(**base) == key  # type: ignore[arg-type]
    # editing the credentials file (rotating the profile's keys) moves the key too
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text("[default]\n")
    assert cache_key(**base) != key  # type: ignore[arg-type]


def test_a_cache_that_is_not_private_is_not_trusted(
    static_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    first = _token(capsys)
    [entry] = _entries()
    entry.chmod(0o644)  # someone made the file readable: never serve from it
    time.sleep(1.1)
    second = _token(capsys)
    assert second["token"] != first["token"]
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    # a symlink planted in place of the entry is not followed
    target = entry.parent.parent / "elsewhere.json"
    target.write_text(entry.read_text())
    target.chmod(0o600)
    entry.unlink()
    entry.symlink_to(target)
    assert TokenCache().load(entry.name.removeprefix("eks-token-").removesuffix(".json")) is None


def test_an_unwritable_cache_still_prints_a_token(
    static_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert _token(capsys)["token"].startswith("k8s-aws-v1.")


def test_environment_keys_are_signed_like_botocore_without_importing_it(static_env: dict[str, str]) -> None:
    for env in (
        {**os.environ, "AWS_REGION": "ap-southeast-2"},
        {**os.environ, "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:4566/base", "AWS_SESSION_TOKEN": "t", "AWS_DEFAULT_REGION": "eu-west-3"},
    ):
        fast = quick_target(env, region=None)
        assert fast is not None
        old = dict(os.environ)
        os.environ.update(env)
        try:
            slow = botocore_target(region=env_region(None, env))
        finally:
            os.environ.clear()
            os.environ.update(old)
        assert fast._replace(source="x") == slow._replace(source="x")
    assert quick_target(os.environ, region="eu-west-1", profile="p") is None
    assert quick_target({**os.environ, "AWS_USE_FIPS_ENDPOINT": "true"}, region="us-east-1") is None
    assert quick_target(os.environ, region="cn-north-1") is None
    Path(os.environ["AWS_CONFIG_FILE"]).write_text("[default]\nsts_regional_endpoints = legacy\n")
    assert quick_target(os.environ, region="us-east-1") is None


def test_get_token_with_keys_in_the_environment_imports_no_aws_sdk(static_env: dict[str, str]) -> None:
    code = (
        "import sys, io, contextlib\n"
        "from kom_async.cli.eks import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    rc = main(['get-token', '--cluster-name', 'c', '--region', 'us-east-1'])\n"
        "heavy = ('botocore', 'aiobotocore', 'aiohttp', 'asyncio', 'kubernetes_asyncio', 'yaml')\n"
        "if sys.argv[1] == 'cached':  # a cache hit needs no parser, no signer, no typing\n"
        "    heavy += ('argparse', 'typing', 'dataclasses', 'configparser', 'kom_async.auth.eks.sign')\n"
        "print(rc, [m for m in heavy if m in sys.modules])\n"
    )
    for run in ("first", "cached"):
        done = subprocess.run([sys.executable, "-c", code, run], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "0 []", (run, done.stdout, done.stderr)
    [entry] = _entries()
    url = decode_token(json.loads(entry.read_text())["token"])
    assert url_parts(url)[3]["X-Amz-Credential"].startswith(ACCESS_KEY + "/")


def test_a_fifo_in_place_of_a_cache_entry_is_a_miss_and_get_token_succeeds(
    static_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, ``eks get-token`` opened the FIFO and waited for a writer forever."""
    _token(capsys)
    [entry] = _entries()
    entry.unlink()
    os.mkfifo(entry, 0o600)
    code = (
        "import sys\n"
        "from kom_async.cli.eks import main\n"
        "sys.exit(main(['get-token', '--cluster-name', 'c1', '--region', 'eu-west-1']))\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    finally:  # a reader that wrongly blocked is let go, so the timeout's kill is not needed twice
        with contextlib.suppress(OSError):
            os.close(os.open(entry, os.O_WRONLY | os.O_NONBLOCK))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"]["token"].startswith("k8s-aws-v1.")
    assert "FIFO" in done.stderr and "ignoring the token cache entry" in done.stderr
    assert stat.S_ISREG(entry.lstat().st_mode)  # the new token was written over it


def test_an_oversized_cache_entry_is_a_miss(static_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    first = _token(capsys)
    [entry] = _entries()
    key = entry.name.removeprefix("eks-token-").removesuffix(".json")
    with entry.open("r+b") as fh:
        fh.truncate(CACHE_MAX + 1)
    assert TokenCache().load(key) is None
    time.sleep(1.1)
    assert _token(capsys)["token"] != first["token"]

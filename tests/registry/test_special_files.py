"""Files a user or a kubeconfig names are read by one bounded reader: a FIFO, a device or a
directory is refused without waiting on it, and a file over its cap is refused unread.

Before, ``register_in_cluster(token_path=tok)`` with ``tok`` then replaced by a FIFO hung the
next request after a 401: the token source's re-read opened the FIFO and waited for a writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kom_async import Clusters, TrustPolicy
from kom_async.config.readfile import PEM_MAX, TOKEN_MAX
from kom_async.errors import KomError, KubeconfigError
from kom_async.lab import EKSLab

# generous for a loaded 2-core machine; a hang is what fails, not a slow run
PROMPTLY = 30.0


def _service_account(lab: EKSLab, root: Path, token: str) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = {"token_path": root / "token", "ca_path": root / "ca.crt", "namespace_path": root / "namespace"}
    paths["token_path"].write_text(token)
    paths["ca_path"].write_text(lab.ca_pem)
    paths["namespace_path"].write_text("team-a\n")
    return paths


@contextlib.contextmanager
def fifo_at(path: Path) -> Iterator[Path]:
    """``path`` replaced by a FIFO; on exit a writer opens and closes it, so a reader that
    wrongly blocked on it (a thread in ``open``) is let go instead of holding the process."""
    path.unlink(missing_ok=True)
    os.mkfifo(path, 0o600)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


async def test_a_token_file_replaced_by_a_fifo_fails_the_next_request_with_a_typed_error(
    eks_lab: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in eks_lab.serve_at_root("lab").items():
        monkeypatch.setenv(name, value)
    eks_lab.add_static_token("lab", "sa-token-1")
    paths = _service_account(eks_lab, tmp_path / "sa", "sa-token-1")
    async with Clusters() as clusters:
        k = await clusters.register_in_cluster("pod", **paths)  # type: ignore[arg-type]
        assert await k.resource("Namespace").list()
        with fifo_at(paths["token_path"]):
            eks_lab.revoke_tokens("lab")  # the next request gets a 401 and the source re-reads the file
            with pytest.raises(KomError) as caught:
                await asyncio.wait_for(k.resource("Namespace").list(), PROMPTLY)
        text = f"{caught.value} {caught.value.__cause__ or ''}"
        assert "FIFO" in text and "not a regular file" in text, text
        assert "sa-token-1" not in text


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
async def test_a_service_account_token_that_is_not_a_regular_file_is_refused_at_once(
    eks_lab: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    for name, value in eks_lab.serve_at_root("lab").items():
        monkeypatch.setenv(name, value)
    paths = _service_account(eks_lab, tmp_path / "sa", "unused")
    with contextlib.ExitStack() as stack:
        if kind == "fifo":
            stack.enter_context(fifo_at(paths["token_path"]))
        elif kind == "device":
            paths["token_path"] = Path("/dev/zero")
        else:
            paths["token_path"] = tmp_path
        async with Clusters() as clusters:
            with pytest.raises(KubeconfigError, match="not a regular file"):
                await asyncio.wait_for(clusters.register_in_cluster(**paths), PROMPTLY)  # type: ignore[arg-type]


async def test_a_token_file_over_its_cap_is_refused_unread(
    eks_lab: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in eks_lab.serve_at_root("lab").items():
        monkeypatch.setenv(name, value)
    paths = _service_account(eks_lab, tmp_path / "sa", "a" * (TOKEN_MAX + 1))
    async with Clusters() as clusters:
        with pytest.raises(KubeconfigError, match="larger than 1 MiB"):
            await clusters.register_in_cluster(**paths)  # type: ignore[arg-type]


def _kubeconfig_with(lab: EKSLab, name: str, field: str, value: str) -> str:
    text = lab.kubeconfig(name, static_token=True)
    if field == "certificate-authority":
        head, _, rest = text.partition("certificate-authority-data: ")
        return head + f"certificate-authority: {value}\n" + rest.split("\n", 1)[1]
    head, _, rest = text.partition("token: ")
    return head + f"tokenFile: {value}\n" + rest.split("\n", 1)[1]


@pytest.mark.parametrize("field", ["certificate-authority", "tokenFile"])
async def test_dev_zero_named_by_a_kubeconfig_is_refused_promptly(eks_lab: EKSLab, field: str) -> None:
    cluster = await eks_lab.create_cluster(f"zero{field[:4].lower()}")
    text = _kubeconfig_with(eks_lab, cluster.name, field, "/dev/zero")
    started = time.perf_counter()
    async with Clusters() as clusters:
        with pytest.raises(KubeconfigError, match="not a regular file") as caught:
            await asyncio.wait_for(clusters.register_by_string(text), PROMPTLY)
    assert field in str(caught.value)
    print(f"/dev/zero as {field}: refused in {time.perf_counter() - started:.3f} s")


async def test_a_ca_file_over_its_cap_is_refused_unread(eks_lab: EKSLab, tmp_path: Path) -> None:
    cluster = await eks_lab.create_cluster("bigca")
    big = tmp_path / "ca.crt"
    with big.open("wb") as fh:
        fh.write(eks_lab.ca_pem.encode())
        fh.truncate(PEM_MAX + 1)  # sparse: the cap, not the disk, is what is tested
    text = _kubeconfig_with(eks_lab, cluster.name, "certificate-authority", str(big))
    async with Clusters() as clusters:
        with pytest.raises(KubeconfigError, match="larger than 4 MiB"):
            await clusters.register_by_string(text)


async def test_a_fifo_as_the_kubeconfig_path_is_refused_at_once(tmp_path: Path) -> None:
    with fifo_at(tmp_path / "config") as path:
        async with Clusters() as clusters:
            with pytest.raises(KubeconfigError, match="FIFO"):
                await asyncio.wait_for(clusters.register_by_path(path), PROMPTLY)


async def test_a_symlinked_token_file_is_followed_as_kubelet_mounts_it(
    eks_lab: EKSLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mounted service account is ``token -> ..data/token``: symlinks are followed on purpose."""
    for name, value in eks_lab.serve_at_root("lab").items():
        monkeypatch.setenv(name, value)
    eks_lab.add_static_token("lab", "sa-linked")
    paths = _service_account(eks_lab, tmp_path / "sa", "unused")
    data = tmp_path / "sa" / "..data"
    data.mkdir()
    (data / "token").write_text("sa-linked")
    paths["token_path"].unlink()
    paths["token_path"].symlink_to(Path("..data") / "token")
    async with Clusters() as clusters:
        k = await clusters.register_in_cluster(**paths)  # type: ignore[arg-type]
        assert await k.resource("Namespace").list()


async def test_an_untrusted_token_file_swapped_for_a_link_outside_the_allowed_dirs_is_refused_on_reread(
    eks_lab: EKSLab, tmp_path: Path
) -> None:
    """The allowed-directory check is the reader's, so it holds on every re-read, not only the first."""
    cluster = await eks_lab.create_cluster("swapped")
    allowed, outside = tmp_path / "allowed", tmp_path / "host"
    allowed.mkdir()
    outside.mkdir()
    first = eks_lab.static_token(cluster.name)
    (allowed / "token").write_text(first)
    text = _kubeconfig_with(eks_lab, cluster.name, "tokenFile", str(allowed / "token"))
    # a host credential: the operator allows the server and gives its CA, the kubeconfig gives none
    text = "\n".join(line for line in text.splitlines() if "certificate-authority-data" not in line)
    operator_ca = tmp_path / "operator-ca.pem"
    operator_ca.write_text(eks_lab.ca_pem)
    trust = TrustPolicy.untrusted(allowed_dirs=[allowed], allowed_servers={cluster.server: operator_ca})
    async with Clusters(trust=trust) as clusters:
        k = await clusters.register_by_string(text, cluster_id="swapped")
        assert await k.resource("Namespace").list()
        eks_lab.revoke_tokens(cluster.name)
        accepted = eks_lab.stats(cluster.name).static_tokens_accepted
        host_token = eks_lab.static_token(cluster.name)  # a valid token of the host's, outside
        (outside / "token").write_text(host_token)
        (allowed / "token").unlink()
        (allowed / "token").symlink_to(outside / "token")
        with pytest.raises(KomError) as caught:
            await asyncio.wait_for(k.resource("Namespace").list(), PROMPTLY)
        text = f"{caught.value} {caught.value.__cause__ or ''}"
        assert "outside the" in text and "allowed" in text, text
        assert eks_lab.stats(cluster.name).static_tokens_accepted == accepted  # the host's was never sent

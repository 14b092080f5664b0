"""The configuration a pod has: its service account's token, CA and namespace, and the API
server's address from ``KUBERNETES_SERVICE_HOST`` / ``KUBERNETES_SERVICE_PORT``."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kom_async.config.kubeconfig import KubeconfigSelection, UserAuth
from kom_async.config.readfile import PEM_MAX, TOKEN_MAX, read_file
from kom_async.errors import KubeconfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class InClusterConfig:
    """Where the API server is and the service account files that authenticate to it."""

    server: str
    token_path: Path
    ca_data: bytes
    namespace: str | None


def _read_small(path: Path, what: str, limit: int) -> bytes:
    try:
        return read_file(path, limit=limit, what=what)
    except OSError as exc:
        raise KubeconfigError(
            f"not running in a Kubernetes pod, or without a service account: cannot read the {what} "
            f"{str(path)!r} ({exc.strerror})"
        ) from None


def in_cluster_config(
    *,
    environ: Mapping[str, str] | None = None,
    token_path: str | os.PathLike[str] | None = None,
    ca_path: str | os.PathLike[str] | None = None,
    namespace_path: str | os.PathLike[str] | None = None,
) -> InClusterConfig:
    """Read the pod's configuration (the paths default to the mounted service account)."""
    env = os.environ if environ is None else environ
    host = env.get("KUBERNETES_SERVICE_HOST", "").strip()
    port = env.get("KUBERNETES_SERVICE_PORT", "").strip()
    if not host or not port:
        raise KubeconfigError(
            "not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
        )
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise KubeconfigError(f"KUBERNETES_SERVICE_PORT is not a port number: {port[:20]!r}")
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        if not all(c.isalnum() or c in "-." for c in host):
            raise KubeconfigError(f"KUBERNETES_SERVICE_HOST is not a host name: {host[:60]!r}") from None
    token = Path(token_path) if token_path is not None else SERVICE_ACCOUNT_DIR / "token"
    ca = Path(ca_path) if ca_path is not None else SERVICE_ACCOUNT_DIR / "ca.crt"
    ns_file = Path(namespace_path) if namespace_path is not None else SERVICE_ACCOUNT_DIR / "namespace"
    if not _read_small(token, "service account token", TOKEN_MAX).strip():
        raise KubeconfigError(f"the service account token {str(token)!r} is empty")
    ca_data = _read_small(ca, "service account CA", PEM_MAX)
    if b"-----BEGIN CERTIFICATE-----" not in ca_data:
        raise KubeconfigError(f"the service account CA {str(ca)!r} holds no PEM certificate")
    try:
        namespace = read_file(ns_file, limit=TOKEN_MAX).decode("utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        namespace = None  # no namespace file: the caller chooses
    return InClusterConfig(f"https://{host}:{port}", token, ca_data, namespace)


def in_cluster_selection(
    cluster_id: str,
    *,
    token_path: str | os.PathLike[str] | None = None,
    ca_path: str | os.PathLike[str] | None = None,
    namespace_path: str | os.PathLike[str] | None = None,
) -> KubeconfigSelection:
    """The pod's configuration as a selection, as if a kubeconfig with a ``tokenFile`` said it."""
    config = in_cluster_config(token_path=token_path, ca_path=ca_path, namespace_path=namespace_path)
    return KubeconfigSelection(
        context_name=cluster_id,
        cluster_name="in-cluster",
        user_name="serviceaccount",
        server=config.server,
        namespace=config.namespace,
        ca_data=config.ca_data,
        insecure_skip_tls_verify=False,
        tls_server_name=None,
        proxy_url=None,
        auth=UserAuth(kind="token-file", token_file=str(config.token_path)),
    )

"""The TLS settings of one cluster from its kubeconfig, and the SSL context they make, in memory
where Python allows. Settings are small and kept per cluster; a context (~22 KiB of OpenSSL
state) is made from them when needed, so a registry can hold few and re-derive the rest."""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from dataclasses import dataclass, field

from kom_async.config.kubeconfig import KubeconfigSelection
from kom_async.errors import KubeconfigError

log = logging.getLogger("kom_async")


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """What one cluster's SSL context is made of; equal settings make interchangeable contexts.

    ``verify`` False turns verification off (``insecure-skip-tls-verify``). ``cluster`` and
    ``user`` only name the kubeconfig fields in errors.
    """

    ca_data: bytes | None
    verify: bool = True
    client_cert: bytes | None = None
    client_key: bytes | None = field(default=None, repr=False)
    cluster: str = field(default="", compare=False)
    user: str = field(default="", compare=False)


def tls_settings_for(selection: KubeconfigSelection, *, insecure: bool = False) -> TLSSettings:
    """Verification on by default; off only through ``insecure-skip-tls-verify`` or ``insecure``.

    Turning it off is logged as a warning so it can never happen silently.
    """
    off = selection.insecure_skip_tls_verify or insecure
    if off:
        log.warning(
            "TLS verification is OFF for %s (%s): the server's identity is not checked",
            selection.context_name,
            "kubeconfig insecure-skip-tls-verify" if selection.insecure_skip_tls_verify else "insecure=True",
        )
    auth = selection.auth
    client = auth.kind == "client-cert" and auth.client_cert_data and auth.client_key_data
    return TLSSettings(
        ca_data=selection.ca_data,
        verify=not off,
        client_cert=auth.client_cert_data if client else None,
        client_key=auth.client_key_data if client else None,
        cluster=selection.cluster_name,
        user=selection.user_name,
    )


def build_context(settings: TLSSettings) -> ssl.SSLContext:
    """A new SSL context from ``settings``; ``KubeconfigError`` when its PEM data do not load."""
    try:
        if settings.ca_data is not None:
            ctx = ssl.create_default_context(cadata=settings.ca_data.decode("ascii", "replace"))
        else:
            ctx = ssl.create_default_context()
    except (ssl.SSLError, ValueError, TypeError):  # TypeError: a PEM with non-ASCII bytes
        raise KubeconfigError(
            "holds no usable PEM certificate",
            field=f"clusters[{settings.cluster}].cluster.certificate-authority-data",
        ) from None
    if not settings.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.client_cert is not None and settings.client_key is not None:
        _load_client_cert(ctx, settings.client_cert, settings.client_key, settings.user)
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes, user: str) -> None:
    # Python's ssl module loads key material only from files: write them to a private
    # directory (0700, files 0600) and delete them as soon as they are loaded.
    with tempfile.TemporaryDirectory(prefix="kom-async-") as tmp:
        cert_path = os.path.join(tmp, "client.crt")
        key_path = os.path.join(tmp, "client.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except (ssl.SSLError, ValueError, TypeError):
            raise KubeconfigError(
                "client certificate and key do not load (not PEM, or they do not match)",
                field=f"users[{user}].user.client-certificate-data",
            ) from None

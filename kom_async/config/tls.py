"""Build the SSL context for one cluster from its kubeconfig, in memory where Python allows."""

from __future__ import annotations

import functools
import logging
import os
import ssl
import tempfile

from kom_async.config.kubeconfig import KubeconfigSelection
from kom_async.errors import KubeconfigError

log = logging.getLogger("kom_async")


def ssl_context_for(selection: KubeconfigSelection, *, insecure: bool = False) -> ssl.SSLContext:
    """Verification on by default; off only through ``insecure-skip-tls-verify`` or ``insecure``.

    Turning it off is logged as a warning so it can never happen silently. Clusters with the
    same CA and settings share one context (each costs ~19 KiB); a client certificate gets
    a context of its own.
    """
    off = selection.insecure_skip_tls_verify or insecure
    if off:
        log.warning(
            "TLS verification is OFF for %s (%s): the server's identity is not checked",
            selection.context_name,
            "kubeconfig insecure-skip-tls-verify" if selection.insecure_skip_tls_verify else "insecure=True",
        )
    try:
        auth = selection.auth
        if auth.kind == "client-cert" and auth.client_cert_data and auth.client_key_data:
            ctx = _new_context(selection.ca_data, off)
            _load_client_cert(ctx, auth.client_cert_data, auth.client_key_data, selection.user_name)
            return ctx
        return _shared_context(selection.ca_data, off)
    except (ssl.SSLError, ValueError, TypeError):  # TypeError: a PEM with non-ASCII bytes
        raise KubeconfigError(
            "holds no usable PEM certificate",
            field=f"clusters[{selection.cluster_name}].cluster.certificate-authority-data",
        ) from None


@functools.lru_cache(maxsize=64)
def _shared_context(ca_data: bytes | None, off: bool) -> ssl.SSLContext:
    return _new_context(ca_data, off)


def _new_context(ca_data: bytes | None, off: bool) -> ssl.SSLContext:
    if ca_data is not None:
        ctx = ssl.create_default_context(cadata=ca_data.decode("ascii", "replace"))
    else:
        ctx = ssl.create_default_context()
    if off:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
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
        except ssl.SSLError:
            raise KubeconfigError(
                "client certificate and key do not load (not PEM, or they do not match)",
                field=f"users[{user}].user.client-certificate-data",
            ) from None

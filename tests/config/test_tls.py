"""TLS contexts a cluster gets from its kubeconfig: shared per CA, an insecure one apart and logged."""

from __future__ import annotations

import pytest
import trustme
import yaml

from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.config.tls import ssl_context_for


def kubeconfig(ca: bytes, *, insecure: bool = False) -> str:
    import base64

    cluster = {
        "server": "https://api.example:6443",
        "certificate-authority-data": base64.b64encode(ca).decode(),
    }
    if insecure:
        cluster["insecure-skip-tls-verify"] = True  # type: ignore[assignment]
    return yaml.safe_dump(
        {
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "clusters": [{"name": "k", "cluster": cluster}],
            "users": [{"name": "u", "user": {"token": "t"}}],
        }
    )


def test_clusters_with_the_same_ca_share_one_ssl_context_and_others_do_not() -> None:
    ca1, ca2 = trustme.CA().cert_pem.bytes(), trustme.CA().cert_pem.bytes()
    a = ssl_context_for(load_kubeconfig(kubeconfig(ca1)))
    b = ssl_context_for(load_kubeconfig(kubeconfig(ca1)))
    c = ssl_context_for(load_kubeconfig(kubeconfig(ca2)))
    assert a is b and a is not c
    assert a.check_hostname


def test_an_insecure_context_is_separate_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    ca = trustme.CA().cert_pem.bytes()
    secure = ssl_context_for(load_kubeconfig(kubeconfig(ca)))
    off = ssl_context_for(load_kubeconfig(kubeconfig(ca, insecure=True)))
    assert off is not secure and not off.check_hostname and secure.check_hostname
    assert "TLS verification is OFF" in caplog.text

"""Transport settings a cluster gets from its kubeconfig and environment: TLS contexts, proxies."""

from __future__ import annotations

import pytest
import trustme
import yaml

from kom_async.auth.apiclient import _env_proxy
from kom_async.kubeconfig import load_kubeconfig
from kom_async.tls import ssl_context_for


def kubeconfig(ca: bytes, *, insecure: bool = False) -> str:
    import base64

    cluster = {"server": "https://api.example:6443", "certificate-authority-data": base64.b64encode(ca).decode()}
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


def test_the_environment_proxy_is_read_once_per_server_and_honours_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert _env_proxy("https://api.example:6443") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.corp")
    assert _env_proxy("https://api.example:6443") == "http://proxy.internal:3128"
    assert _env_proxy("https://127.0.0.1:6443/clusters/x") is None
    assert _env_proxy("https://k8s.corp:443") is None

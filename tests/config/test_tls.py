"""TLS contexts a cluster gets from its kubeconfig: shared per CA, an insecure one apart and logged."""

from __future__ import annotations

import pytest
import trustme
import yaml

from kom_async.config.kubeconfig import load_kubeconfig
from kom_async.config.tls import tls_settings_for
from kom_async.transport.pool import HTTPPool, PoolLimits


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
    pool = HTTPPool()
    a = pool.context(tls_settings_for(load_kubeconfig(kubeconfig(ca1))))
    b = pool.context(tls_settings_for(load_kubeconfig(kubeconfig(ca1))))
    c = pool.context(tls_settings_for(load_kubeconfig(kubeconfig(ca2))))
    assert a is b and a is not c
    assert a.check_hostname


def test_the_pool_keeps_few_contexts_and_makes_an_evicted_one_again() -> None:
    cas = [trustme.CA().cert_pem.bytes() for _ in range(3)]
    pool = HTTPPool(PoolLimits(max_contexts=2))
    settings = [tls_settings_for(load_kubeconfig(kubeconfig(ca))) for ca in cas]
    first = [pool.context(s) for s in settings]
    assert pool.context(settings[2]) is first[2]  # kept
    again = pool.context(settings[0])  # evicted by the third: made again, the same trust
    assert again is not first[0] and again.get_ca_certs() == first[0].get_ca_certs()


def test_an_insecure_context_is_separate_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    ca = trustme.CA().cert_pem.bytes()
    pool = HTTPPool()
    secure = pool.context(tls_settings_for(load_kubeconfig(kubeconfig(ca))))
    off = pool.context(tls_settings_for(load_kubeconfig(kubeconfig(ca, insecure=True))))
    assert off is not secure and not off.check_hostname and secure.check_hostname
    assert "TLS verification is OFF" in caplog.text

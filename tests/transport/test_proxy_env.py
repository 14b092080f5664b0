"""The proxy a cluster's client uses, read from the environment (``HTTPS_PROXY``, ``NO_PROXY``)."""

from __future__ import annotations

import pytest

from kom_async.transport.apiclient import _env_proxy


def test_the_environment_proxy_is_read_once_per_server_and_honours_no_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert _env_proxy("https://api.example:6443") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.corp")
    assert _env_proxy("https://api.example:6443") == "http://proxy.internal:3128"
    assert _env_proxy("https://127.0.0.1:6443/clusters/x") is None
    assert _env_proxy("https://k8s.corp:443") is None

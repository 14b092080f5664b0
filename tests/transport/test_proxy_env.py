"""The proxy a cluster's client uses, read from the environment (``HTTPS_PROXY``, ``NO_PROXY``)
once per registry (its connection pool): urllib would scan all of ``os.environ`` per lookup."""

from __future__ import annotations

import pytest

from kom_async.transport.pool import HTTPPool


def test_the_environment_proxy_is_read_once_per_registry_and_honours_no_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert HTTPPool().env_proxy("https://api.example:6443") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.corp")
    pool = HTTPPool()
    monkeypatch.delenv("HTTPS_PROXY")  # read when the pool was made, not on every lookup
    assert pool.env_proxy("https://api.example:6443") == "http://proxy.internal:3128"
    assert pool.env_proxy("https://127.0.0.1:6443/clusters/x") is None
    assert pool.env_proxy("https://k8s.corp:443") is None

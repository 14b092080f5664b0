"""Token metrics: a Prometheus collector and OpenTelemetry instruments read ``auth_stats``."""

from __future__ import annotations

from typing import Any

import pytest

from kom_async import Clusters
from kom_async.lab import EKSLab
from kom_async.metrics import METRICS, PrometheusCollector, register_prometheus, snapshot

NAMES = [spec.name for spec in METRICS]


async def two_clusters(lab: EKSLab, clusters: Clusters) -> None:
    await lab.create_cluster("eks")
    await lab.create_cluster("plain")
    await clusters.register_eks("eks", "us-east-1", env=lab.aws_env, cluster_id="eks")
    await clusters.register_by_string(lab.kubeconfig("plain", static_token=True), cluster_id="plain")


async def test_the_snapshot_has_every_metric_per_token_cluster(lab: EKSLab) -> None:
    async with Clusters() as clusters:
        await two_clusters(lab, clusters)
        snap = snapshot(clusters)
        assert list(snap) == NAMES
        assert snap["kom_async_token_fetches_total"] == {"eks": 1.0, "plain": 1.0}
        assert snap["kom_async_token_refresh_failures_total"] == {"eks": 0.0, "plain": 0.0}
        assert snap["kom_async_unauthorized_recoveries_total"] == {"eks": 0.0, "plain": 0.0}
        # a static token never expires: no expiry sample for it
        expiry = clusters.get("eks").auth_stats.expires_at  # type: ignore[union-attr]
        assert snap["kom_async_token_expiry_timestamp_seconds"] == {"eks": expiry.timestamp()}  # type: ignore[union-attr]
        assert 0 <= snap["kom_async_token_last_fetch_duration_seconds"]["eks"] < 5


async def test_prometheus_exposition_shows_each_cluster_and_follows_the_registry(lab: EKSLab) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    async with Clusters() as clusters:
        collector = register_prometheus(clusters, registry)
        assert isinstance(collector, PrometheusCollector)
        await two_clusters(lab, clusters)
        text = generate_latest(registry).decode()
        for name in NAMES:
            assert f"# TYPE {name.removesuffix('_total')}" in text
        assert 'kom_async_token_fetches_total{cluster="eks"} 1.0' in text
        assert 'kom_async_token_fetches_total{cluster="plain"} 1.0' in text
        assert 'kom_async_token_expiry_timestamp_seconds{cluster="eks"}' in text
        assert 'kom_async_token_expiry_timestamp_seconds{cluster="plain"}' not in text
        assert registry.get_sample_value("kom_async_unauthorized_recoveries_total", {"cluster": "eks"}) == 0

        # one 401 from the API server is recovered by one refresh: the counters move
        lab.api_fault("eks", status=401, count=1)
        await clusters.get("eks").kubectl.resource("Pod").namespace("demo").list()
        assert registry.get_sample_value("kom_async_token_fetches_total", {"cluster": "eks"}) == 2
        assert registry.get_sample_value("kom_async_unauthorized_recoveries_total", {"cluster": "eks"}) == 1

        await clusters.unregister("plain")
        assert 'cluster="plain"' not in generate_latest(registry).decode()
        registry.unregister(collector)  # type: ignore[arg-type]


async def test_registering_twice_on_one_registry_is_refused_as_a_duplicate() -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    async with Clusters() as clusters:
        register_prometheus(clusters, registry)
        with pytest.raises(ValueError, match="Duplicated"):
            register_prometheus(clusters, registry)


async def test_opentelemetry_observable_instruments_report_the_same_names(lab: EKSLab) -> None:
    sdk_metrics = pytest.importorskip(
        "opentelemetry.sdk.metrics", reason="opentelemetry-sdk is not installed"
    )
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from kom_async.metrics import instrument_opentelemetry

    reader = InMemoryMetricReader()
    provider = sdk_metrics.MeterProvider(metric_readers=[reader])
    try:
        async with Clusters() as clusters:
            instruments = instrument_opentelemetry(clusters, meter_provider=provider)
            assert len(instruments) == len(NAMES)
            await two_clusters(lab, clusters)
            points: dict[str, dict[str, Any]] = {}
            data = reader.get_metrics_data()
            assert data is not None
            for rm in data.resource_metrics:
                for sm in rm.scope_metrics:
                    assert sm.scope.name == "kom_async"
                    for metric in sm.metrics:
                        points[metric.name] = {
                            dict(p.attributes)["cluster"]: p.value for p in metric.data.data_points
                        }
            # no failure has happened yet: the failure counter has no data point
            assert sorted(points) == sorted(n for n in NAMES if n != "kom_async_auth_failures_total")
            assert points["kom_async_token_fetches_total"] == {"eks": 1, "plain": 1}
            assert set(points["kom_async_token_expiry_timestamp_seconds"]) == {"eks"}
    finally:
        provider.shutdown()


def test_a_missing_optional_dependency_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from kom_async.metrics import MissingExtraError, instrument_opentelemetry

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics", None)
    with pytest.raises(MissingExtraError, match=r"kom-async\[prometheus\]"):
        PrometheusCollector(Clusters())
    with pytest.raises(ImportError, match=r"kom-async\[otel\]"):
        instrument_opentelemetry(Clusters())


async def test_final_authentication_failures_are_counted_by_kind_in_both_exporters(lab: EKSLab) -> None:
    from prometheus_client import CollectorRegistry

    sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics", reason="opentelemetry-sdk is not installed")
    from kubernetes_asyncio.client import CoreV1Api
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from kom_async.errors import EKSAuthError
    from kom_async.metrics import instrument_opentelemetry

    registry = CollectorRegistry()
    reader = InMemoryMetricReader()
    provider = sdk_metrics.MeterProvider(metric_readers=[reader])
    try:
        async with Clusters() as clusters:
            register_prometheus(clusters, registry)
            instrument_opentelemetry(clusters, meter_provider=provider)
            await two_clusters(lab, clusters)
            name = "kom_async_auth_failures_total"
            assert registry.get_sample_value(name, {"cluster": "eks", "kind": "PermissionDenied"}) is None
            lab.unmap(lab.admin_arn)  # valid credentials, no mapping: every request ends refused
            for _ in range(2):
                with pytest.raises(EKSAuthError):
                    await CoreV1Api(clusters.get("eks").api_client).list_namespace()
            assert registry.get_sample_value(name, {"cluster": "eks", "kind": "PermissionDenied"}) == 2
            assert snapshot(clusters)[name] == {"eks": 2.0, "plain": 0.0}
            data = reader.get_metrics_data()
            assert data is not None
            points = [
                (dict(p.attributes), p.value)
                for rm in data.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
                if m.name == name
                for p in m.data.data_points
            ]
            assert points == [({"cluster": "eks", "kind": "PermissionDenied"}, 2)]
    finally:
        provider.shutdown()

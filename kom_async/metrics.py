"""Token metrics for every registered cluster, for Prometheus and OpenTelemetry.

Both exporters read ``Cluster.auth_stats`` when they are scraped or collected, so
there is nothing to update and nothing to stop: clusters registered later show up,
unregistered ones disappear. The metric names are the same in both::

    kom_async_token_fetches_total                  counter  tokens fetched
    kom_async_token_refresh_failures_total         counter  failed token fetches
    kom_async_unauthorized_recoveries_total        counter  requests that recovered from a 401
    kom_async_token_expiry_timestamp_seconds       gauge    POSIX time the current token expires
    kom_async_token_last_fetch_duration_seconds    gauge    how long the last fetch took
    kom_async_auth_failures_total                  counter  requests that ended in an authentication
                                                            failure nothing recovered, by ``kind``

each with a ``cluster`` label (the cluster id); the failures also carry ``kind``
(``InvalidCredentials``, ``PermissionDenied``, ``TokenExpired``, ``Unauthorized``, ...).
Clusters whose credentials are not tokens (client certificates, basic auth) have no
samples; a token that never expires has no expiry sample; a kind of failure that never
happened has no sample.

``prometheus-client`` and ``opentelemetry-api`` are optional: install the extras
``kom-async[prometheus]`` or ``kom-async[otel]``. They are imported only by the
functions that need them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, cast

from kom_async import __version__
from kom_async.auth.provider import AuthStats
from kom_async.errors import KomError

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from prometheus_client.registry import Collector, CollectorRegistry

    from kom_async.clusters import Clusters

__all__ = [
    "METRICS",
    "MetricSpec",
    "MissingExtraError",
    "PrometheusCollector",
    "instrument_opentelemetry",
    "register_prometheus",
    "snapshot",
]


class MissingExtraError(KomError, ImportError):
    """An optional dependency (``prometheus-client``, ``opentelemetry-api``) is not installed."""


@dataclass(frozen=True)
class MetricSpec:
    """One exported metric: its name, kind, unit, help text and how to read it from stats.

    ``by_kind``, when set, splits the value by failure kind (a ``kind`` label); ``read``
    then gives the per-cluster total that ``snapshot`` reports.
    """

    name: str
    kind: Literal["counter", "gauge"]
    unit: str
    help: str
    read: Callable[[AuthStats], float | None]
    by_kind: Callable[[AuthStats], Mapping[str, int]] | None = None


def _expiry(stats: AuthStats) -> float | None:
    return stats.expires_at.timestamp() if stats.expires_at is not None else None


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "kom_async_token_fetches_total",
        "counter",
        "1",
        "Tokens fetched from the cluster's token source",
        lambda s: float(s.fetches),
    ),
    MetricSpec(
        "kom_async_token_refresh_failures_total",
        "counter",
        "1",
        "Token fetches that failed",
        lambda s: float(s.refresh_failures),
    ),
    MetricSpec(
        "kom_async_unauthorized_recoveries_total",
        "counter",
        "1",
        "Requests that got a 401, refreshed the token and succeeded on retry",
        lambda s: float(s.unauthorized_recoveries),
    ),
    MetricSpec(
        "kom_async_token_expiry_timestamp_seconds",
        "gauge",
        "s",
        "POSIX time at which the cluster's current token expires",
        _expiry,
    ),
    MetricSpec(
        "kom_async_token_last_fetch_duration_seconds",
        "gauge",
        "s",
        "Duration of the cluster's last successful token fetch",
        lambda s: s.last_fetch_duration,
    ),
    MetricSpec(
        "kom_async_auth_failures_total",
        "counter",
        "1",
        "Requests that ended in an authentication failure nothing recovered, by kind",
        lambda s: float(sum(s.auth_failures.values())),
        by_kind=lambda s: s.auth_failures,
    ),
)


_BY_KIND = {spec.name: spec for spec in METRICS if spec.by_kind is not None}


def snapshot(clusters: Clusters) -> dict[str, dict[str, float]]:
    """``{metric name: {cluster id: value}}`` for every cluster that has token stats now."""
    out: dict[str, dict[str, float]] = {spec.name: {} for spec in METRICS}
    for cluster_id, stats in _stats(clusters):
        for spec in METRICS:
            value = spec.read(stats)
            if value is not None:
                out[spec.name][cluster_id] = value
    return out


def _stats(clusters: Clusters) -> Iterator[tuple[str, AuthStats]]:
    for cluster in clusters.values():
        stats = cluster.auth_stats
        if stats is not None:
            yield cluster.id, stats


def _require(module: str, extra: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{package} is not installed; install it with: pip install 'kom-async[{extra}]'"
        ) from exc


# -- Prometheus ------------------------------------------------------------------------------
class PrometheusCollector:
    """A ``prometheus-client`` custom collector reading ``auth_stats`` at every scrape.

    Register it with :func:`register_prometheus` (or ``registry.register(collector)``).
    """

    def __init__(self, clusters: Clusters) -> None:
        _require("prometheus_client", "prometheus", "prometheus-client")
        self.clusters = clusters

    def describe(self) -> list[Any]:
        """The metric families without samples (lets the registry check for duplicates)."""
        return [self._family(spec) for spec in METRICS]

    def collect(self) -> list[Any]:
        """One metric family per name, one sample per cluster."""
        families = {spec.name: self._family(spec) for spec in METRICS}
        for name, by_cluster in snapshot(self.clusters).items():
            for cluster_id, value in sorted(by_cluster.items()):
                if name not in _BY_KIND:
                    families[name].add_metric([cluster_id], value)
        for cluster_id, stats in _stats(self.clusters):
            for name, spec in _BY_KIND.items():
                assert spec.by_kind is not None
                for kind, count in sorted(spec.by_kind(stats).items()):
                    families[name].add_metric([cluster_id, kind], float(count))
        return list(families.values())

    @staticmethod
    def _family(spec: MetricSpec) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        if spec.kind == "counter":
            labels = ["cluster", "kind"] if spec.by_kind is not None else ["cluster"]
            return CounterMetricFamily(spec.name, spec.help, labels=labels)
        unit = "seconds" if spec.unit == "s" else ""
        return GaugeMetricFamily(spec.name, spec.help, labels=["cluster"], unit=unit)


def register_prometheus(clusters: Clusters, registry: CollectorRegistry | None = None) -> PrometheusCollector:
    """Expose the token metrics of ``clusters`` on ``registry`` (default: the global one).

    Undo with ``registry.unregister(collector)``.
    """
    collector = PrometheusCollector(clusters)
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    registry.register(cast("Collector", collector))
    return collector


# -- OpenTelemetry ---------------------------------------------------------------------------
def instrument_opentelemetry(clusters: Clusters, meter_provider: MeterProvider | None = None) -> list[Any]:
    """Create observable instruments (same names as the Prometheus metrics) reporting
    the token stats of ``clusters`` whenever the SDK's reader collects.

    ``meter_provider`` defaults to the global one (``opentelemetry.metrics``). Returns
    the instruments; they report nothing once the registry is closed and empty.
    """
    metrics = _require("opentelemetry.metrics", "otel", "opentelemetry-api")
    if meter_provider is None:
        meter = metrics.get_meter("kom_async", __version__)
    else:
        meter = meter_provider.get_meter("kom_async", __version__)
    instruments: list[Any] = []
    for spec in METRICS:
        callback = _otel_callback(clusters, spec, metrics.Observation)
        create = meter.create_observable_counter if spec.kind == "counter" else meter.create_observable_gauge
        instruments.append(create(spec.name, callbacks=[callback], unit=spec.unit, description=spec.help))
    return instruments


def _otel_callback(
    clusters: Clusters, spec: MetricSpec, observation: type[Observation]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        out = []
        for cluster_id, stats in _stats(clusters):
            if spec.by_kind is not None:
                for kind, count in spec.by_kind(stats).items():
                    out.append(observation(count, {"cluster": cluster_id, "kind": kind}))
                continue
            value = spec.read(stats)
            if value is not None:
                out.append(observation(value, {"cluster": cluster_id}))
        return out

    return observe

"""The server's Prometheus metrics, in a registry of its own (one per app).

With several workers, each process counts its own requests; ``shipyard serve``
points prometheus_client's multiprocess mode at a shared folder so ``/metrics``
sums them (see :func:`metrics_payload`).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics", "metrics_payload"]

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """Counters and histograms by endpoint and version.

    Names (all prefixed ``shipyard_``): ``requests_total`` (endpoint, version, role,
    protocol, status), ``request_latency_seconds`` (endpoint, version), ``batch_size_rows``
    and ``batch_requests`` (endpoint, version), ``model_errors_total``,
    ``prediction_log_dropped_rows_total``, ``prediction_log_written_rows_total``,
    ``shadow_dropped_requests_total`` and ``loaded_versions``.
    """

    def __init__(self) -> None:
        # The *_created series double the output and no dashboard reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "shipyard_requests",
            "Prediction requests answered, by endpoint, version, role, protocol and status.",
            ["endpoint", "version", "role", "protocol", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "shipyard_request_latency_seconds",
            "Time from a request's arrival to its answer, by endpoint and version.",
            ["endpoint", "version"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "shipyard_batch_size_rows",
            "Rows per model call, by endpoint and version.",
            ["endpoint", "version"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "shipyard_batch_requests",
            "Requests merged into one model call, by endpoint and version.",
            ["endpoint", "version"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.model_errors = Counter(
            "shipyard_model_errors",
            "Model calls that raised, by endpoint and version.",
            ["endpoint", "version"],
            registry=r,
        )
        self.log_dropped = Counter(
            "shipyard_prediction_log_dropped_rows",
            "Prediction log rows dropped because the log's queue was full.",
            registry=r,
        )
        self.log_written = Counter(
            "shipyard_prediction_log_written_rows",
            "Prediction log rows written to Parquet.",
            registry=r,
        )
        self.shadow_dropped = Counter(
            "shipyard_shadow_dropped_requests",
            "Requests not copied to a shadow version because it was too far behind.",
            ["endpoint", "version"],
            registry=r,
        )
        self.loaded_versions = Gauge(
            "shipyard_loaded_versions",
            "Model versions loaded in this process.",
            registry=r,
            multiprocess_mode="livesum",
        )


def metrics_payload(metrics: ServerMetrics) -> bytes:
    """The text exposition: this process's registry, or all workers' in multiprocess mode."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest(metrics.registry))

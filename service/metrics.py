"""Prometheus metrics: one registry per app (no process globals), served at /metrics.

With several worker processes, `python -m service` points prometheus_client at the
directory the workers share (`service.shared_dir`) before the workers start; the library
then keeps every value in a memory-mapped file per process, and `/metrics`, whichever worker
answers it, adds up the files of all of them (gauges: the live workers' values, summed or
the highest).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_store.disk import pid_alive
from service.shared_dir import SharedDir

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


ROWS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
REQUESTS_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64)


class Metrics:
    def __init__(self, shared: SharedDir | None = None) -> None:
        multiprocess_dir = self.multiprocess_dir = shared.path if shared else None
        if multiprocess_dir is not None:
            _forget_dead_workers(multiprocess_dir)
        self.registry = CollectorRegistry()
        labels = ("endpoint", "model", "version")
        self.requests = Counter(
            "ae_requests", "HTTP requests", (*labels, "status"), registry=self.registry
        )
        self.latency = Histogram(
            "ae_request_seconds",
            "request latency",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch = Histogram(
            "ae_inference_batch_size", "images or codes per forward pass", ("operation",),
            buckets=ROWS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.batch_requests = Histogram(
            "ae_inference_batch_requests", "requests gathered into one forward pass",
            ("operation",), buckets=REQUESTS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "ae_inference_queue_depth", "requests waiting for a forward pass",
            registry=self.registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.loads = Counter(
            "ae_model_loads",
            "model version loads",
            ("model", "version", "result"),
            registry=self.registry,
        )
        self.background_errors = Counter(
            "ae_background_errors", "unexpected errors of the model loader and alias watcher "
            "(logged with their traceback; the loop goes on)", ("stage",),
            registry=self.registry,
        )  # fmt: skip
        self.deadlines = Counter(
            "ae_deadline_exceeded", "requests answered 504 at their deadline",
            registry=self.registry,
        )  # fmt: skip
        self.scored = Counter(
            "ae_scored_images", "images /score scored", ("model", "version"),
            registry=self.registry,
        )  # fmt: skip
        self.outliers = Counter(
            "ae_outlier_images", "images /score found above the threshold of the rate asked",
            ("model", "version"), registry=self.registry,
        )  # fmt: skip
        self.alias = Gauge(
            "ae_alias_version",
            "version each served alias points to",
            ("model", "alias"),
            registry=self.registry,
            multiprocess_mode="liveall",  # one value per worker: which ones switched
        )

    def model_loaded(self, name: str, version: int, ok: bool) -> None:
        self.loads.labels(name, str(version), "ok" if ok else "failed").inc()

    def background_error(self, stage: str) -> None:
        self.background_errors.labels(stage).inc()

    def alias_switched(self, name: str, alias: str, version: int) -> None:
        self.alias.labels(name, alias).set(version)

    def scored_images(self, name: str, version: int, images: int, outliers: int) -> None:
        self.scored.labels(name, str(version)).inc(images)
        self.outliers.labels(name, str(version)).inc(outliers)

    def batched(self, operation: str, rows: int, requests: int) -> None:
        self.batch.labels(operation).observe(rows)
        self.batch_requests.labels(operation).observe(requests)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=str(self.multiprocess_dir))
        return generate_latest(merged)

    def close(self) -> None:
        """This worker is going away: its live gauges stop counting."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), str(self.multiprocess_dir))


def _forget_dead_workers(directory: Path) -> None:
    """A worker killed without `close` leaves its live gauges behind; drop them."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        if not pid_alive(pid):
            multiprocess.mark_process_dead(pid, str(directory))


class MetricsMiddleware:
    """Counts and times every HTTP request; routes name the model that served it in
    `scope["state"]["served"]`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            model, version = scope.get("state", {}).get("served", ("", ""))
            self.metrics.requests.labels(endpoint, model, str(version), str(status)).inc()
            self.metrics.latency.labels(endpoint, model, str(version)).observe(
                time.perf_counter() - started
            )

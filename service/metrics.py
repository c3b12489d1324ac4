"""Prometheus metrics: one registry per app (no process globals), served at /metrics."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Metrics:
    def __init__(self) -> None:
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
            "ae_inference_batch_size", "images or codes per forward pass", ("endpoint",),
            buckets=BATCH_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.loads = Counter(
            "ae_model_loads",
            "model version loads",
            ("model", "version", "result"),
            registry=self.registry,
        )
        self.alias = Gauge(
            "ae_alias_version",
            "version each served alias points to",
            ("model", "alias"),
            registry=self.registry,
        )

    def model_loaded(self, name: str, version: int, ok: bool) -> None:
        self.loads.labels(name, str(version), "ok" if ok else "failed").inc()

    def alias_switched(self, name: str, alias: str, version: int) -> None:
        self.alias.labels(name, alias).set(version)

    def render(self) -> bytes:
        return generate_latest(self.registry)


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

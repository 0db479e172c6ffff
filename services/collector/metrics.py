"""Prometheus metrics of the collector, in a registry of its own (one per app)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "partnerstream_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.events_accepted = Counter(
            "partnerstream_events_accepted",
            "events accepted, by type and source",
            ["type", "source"],
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "partnerstream_events_rejected",
            "events refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "partnerstream_auth_failures",
            "requests refused for credentials, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.produce_seconds = Histogram(
            "partnerstream_produce_seconds",
            "time until a batch is durable (acked or spooled)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.spool_depth = Gauge(
            "partnerstream_spool_depth",
            "records waiting in the on-disk spool",
            registry=self.registry,
        )

    def watch_spool(self, depth: Callable[[], int]) -> None:
        self.spool_depth.set_function(lambda: float(depth()))

    def render(self) -> bytes:
        return generate_latest(self.registry)

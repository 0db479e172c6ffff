"""Prometheus metrics of the collector, in a registry of its own (one per app)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
        # Label children looked up once: ``labels()`` takes a lock and builds a key per
        # call, a few us on every click; the label sets are small and bounded (route
        # templates and statuses, event types and sources)
        self._request_counts: dict[tuple[str, int], Any] = {}
        self._accepted_counts: dict[tuple[str, str], Any] = {}

    def count_request(self, route: str, status: int) -> None:
        """One request of ``route`` (a template) answered ``status``."""
        key = (route, status)
        child = self._request_counts.get(key)
        if child is None:
            child = self._request_counts[key] = self.requests.labels(route, str(status))
        child.inc()

    def count_accepted(self, kind: str, source: str, n: int = 1) -> None:
        """``n`` events of type ``kind`` accepted from ``source``."""
        key = (kind, source)
        child = self._accepted_counts.get(key)
        if child is None:
            child = self._accepted_counts[key] = self.events_accepted.labels(kind, source)
        child.inc(n)

    def watch_spool(self, depth: Callable[[], int]) -> None:
        self.spool_depth.set_function(lambda: float(depth()))

    def render(self) -> bytes:
        return generate_latest(self.registry)

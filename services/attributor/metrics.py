"""Prometheus metrics of the attributor."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60)


class AttributorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.batches = Counter("partnerstream_attributor_batches", "micro-batches", registry=r)
        self.batch_records = Histogram(
            "partnerstream_attributor_batch_records",
            "records per micro-batch",
            buckets=(1, 10, 100, 1000, 5000, 20000, 100000),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "partnerstream_attributor_batch_seconds",
            "time to process and write a batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.event_to_credit_seconds = Histogram(
            "partnerstream_event_to_credit_seconds",
            "from a conversion's arrival at the collector to its credits being written",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows_written = Counter(
            "partnerstream_rows_written", "rows written, by table", ["table"], registry=r
        )
        self.retries = Counter(
            "partnerstream_sink_retries", "writes retried after a store failure", registry=r
        )
        self.dead_letters = Counter(
            "partnerstream_attributor_dead_letters", "undecodable records", registry=r
        )
        self.duplicates = Counter(
            "partnerstream_duplicate_events", "events dropped as already seen", registry=r
        )
        self.lag = Gauge(
            "partnerstream_consumer_lag",
            "records not yet consumed, by topic",
            ["topic"],
            registry=r,
        )
        self.rebuilds = Counter(
            "partnerstream_state_rebuilds", "journey state rebuilt on assignment", registry=r
        )
        self.retained_touches = Gauge(
            "partnerstream_retained_touches", "touches held in journey state", registry=r
        )
        self.flagged_credits = Counter(
            "partnerstream_attributor_flagged_credits",
            "attribution_credits rows written with a fraud flag, by reason (every model; "
            "reversal rows not counted): recorded, not paid",
            ["reason"],
            registry=r,
        )


def observe_many(histogram: Histogram, values: NDArray[np.float64]) -> None:
    """`histogram.observe(v)` for each of `values`, with one update per bucket (a batch holds
    thousands of conversions; prometheus_client observes one value at a time)."""
    if not values.shape[0]:
        return
    bounds = np.asarray(histogram._upper_bounds, np.float64)  # the last one is +Inf
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    histogram._sum.inc(float(values.sum()))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=True):
        if count:
            bucket.inc(count)

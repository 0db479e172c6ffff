"""`observe_many` puts values in a histogram as `observe` does one at a time."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from services.attributor.metrics import LATENCY_BUCKETS, observe_many


def histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("h", "test", buckets=LATENCY_BUCKETS, registry=registry)


def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("le", "")): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


@pytest.mark.parametrize(
    "values",
    [
        [],
        [0.0],
        [0.05, 0.1, 1.0, 60.0],  # on the bounds: counted in that bucket, as observe does
        [0.049, 0.051, 2.5, 59.9, 60.1, 1e6],
        np.random.default_rng(3).exponential(2.0, 5000).tolist(),
    ],
)
def test_observe_many_counts_as_observe_does(values: list[float]) -> None:
    one_by_one, h1 = histogram()
    for v in values:
        h1.observe(v)
    many, h2 = histogram()
    observe_many(h2, np.asarray(values, np.float64))
    expected, got = samples(one_by_one), samples(many)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key

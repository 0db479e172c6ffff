"""Property tests: the vectorised engine equals the plain reference, and its invariants hold."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.columns import Conversions, Credits, Touches
from attribution.engine import EngineConfig, attribute, attribute_batch
from attribution.reference import reference_attribute
from attribution.state import JourneyState
from tests.attribution.journey_tables import assert_same_credits, canonical
from tests.attribution.strategies import HEURISTIC, Population, configs, populations

FAST = settings(max_examples=40, deadline=None)
THOROUGH = settings(max_examples=120, deadline=None)


@THOROUGH
@given(populations(), configs())
def test_engine_equals_reference(population: Population, config: EngineConfig) -> None:
    t, c = population.touches, population.conversions
    assert_same_credits(
        attribute(t, c, config, HEURISTIC), reference_attribute(t, c, config, HEURISTIC)
    )


@FAST
@given(populations(), configs())
def test_weights_sum_to_one_and_money_is_exact(
    population: Population, config: EngineConfig
) -> None:
    c = population.conversions
    result = attribute_batch(population.touches, c, config, HEURISTIC)
    credits = result.credits
    revenue = dict(zip(c.conversion_id.tolist(), c.revenue.tolist(), strict=True))
    groups: dict[tuple[int, int], tuple[float, int]] = {}
    rows = zip(
        credits.conversion_id.tolist(),
        credits.model.tolist(),
        credits.weight.tolist(),
        credits.credited_revenue.tolist(),
        strict=True,
    )
    for conv, model, w, money in rows:
        weight, total = groups.get((conv, model), (0.0, 0))
        groups[(conv, model)] = (weight + w, total + money)
    for (conv, _), (weight, total) in groups.items():
        assert abs(weight - 1.0) < 1e-9
        assert total == revenue[conv]
    credited = {conv for conv, _ in groups}
    for model in HEURISTIC:  # every model credits the same conversions
        assert {conv for conv, m in groups if m == model} == credited
    assert result.unattributed == len(c) - len(credited)
    assert bool((credits.weight > 0).all())


@FAST
@given(populations(), configs(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(
    population: Population, config: EngineConfig, rnd: object
) -> None:
    t, c = population.touches, population.conversions
    tp = np.random.default_rng(abs(hash(str(rnd))) % 2**32).permutation(len(t))
    cp = np.random.default_rng(len(t)).permutation(len(c))
    before = attribute(t, c, config, HEURISTIC)
    after = attribute(t.take(tp), c.take(cp), config, HEURISTIC)
    for name in Credits.__dataclass_fields__:  # identical arrays, not just the same set of rows
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name))


@FAST
@given(populations(), configs())
def test_rerunning_is_idempotent(population: Population, config: EngineConfig) -> None:
    t, c = population.touches, population.conversions
    first = attribute_batch(t, c, config, HEURISTIC)
    assert_same_credits(attribute(t, c, config, HEURISTIC), first.credits)
    replay = attribute_batch(t, c, config, HEURISTIC, prior=first.marks)
    assert len(replay.credits) == 0  # conversions seen already get nothing again
    assert len(replay.marks) == 0


def _stream_cut(t: Touches, c: Conversions, cuts: list[int]) -> list[tuple[Touches, Conversions]]:
    """Split a population, in time order, into batches at the given points of the stream."""
    ts = np.concatenate([t.ts_ms, c.ts_ms])
    is_conv = np.concatenate([np.zeros(len(t), np.int8), np.ones(len(c), np.int8)])
    ids = np.concatenate([t.touch_id, c.conversion_id])
    order = np.lexsort((ids, is_conv, ts))
    bounds = [0, *sorted(min(x, len(order)) for x in cuts), len(order)]
    batches = []
    for lo, hi in itertools.pairwise(bounds):
        part = order[lo:hi]
        batches.append((t.take(part[part < len(t)]), c.take(part[part >= len(t)] - len(t))))
    return batches


@FAST
@given(populations(), configs(), st.lists(st.integers(0, 40), max_size=5), st.booleans())
def test_batches_equal_one_pass(
    population: Population, config: EngineConfig, cuts: list[int], watermark: bool
) -> None:
    t, c = population.touches, population.conversions
    state = JourneyState(config, HEURISTIC)
    parts: list[Credits] = []
    for bt, bc in _stream_cut(t, c, cuts):
        # a watermark at the oldest conversion still to come keeps what later batches need
        result = state.append(bt, bc)
        parts.append(result.credits)
        if watermark and len(bc):
            state.advance(int(bc.ts_ms.min()))
    streamed = Credits(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Credits.__dataclass_fields__)
    )
    assert_same_credits(streamed, attribute(t, c, config, HEURISTIC))
    assert len(canonical(streamed)) == len(streamed)

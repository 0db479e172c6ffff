"""The engine's shortcuts give the general result: semi-join, sorted inputs, one advertiser."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution import path_entries as path_entries_module
from attribution.columns import Conversions, Credits, Touches
from attribution.engine import EngineConfig, attribute
from attribution.journey_population import population_from_touches
from attribution.ordering import mix_group_keys, rows_maybe_in
from attribution.reference import reference_attribute
from tests.attribution.journey_tables import C, T, assert_same_credits, conversions, touches
from tests.attribution.strategies import (
    HEURISTIC,
    Population,
    configs,
    populations,
    wide_population,
)


@pytest.mark.parametrize("advertisers", [1, 3])
@pytest.mark.parametrize("seed", [1, 2])
def test_skipping_touches_of_keys_without_conversion_changes_nothing(
    seed: int, advertisers: int
) -> None:
    p = wide_population(seed, 4000, 800, advertisers)
    t, c = p.touches, p.conversions
    # The semi-join does engage: it leaves out most touches (those of keys not converting).
    if advertisers == 1:  # one advertiser: the identity is the journey key
        kept = rows_maybe_in(t.identity, c.identity)
    else:
        keys = mix_group_keys(t.advertiser_id, t.identity)
        kept = rows_maybe_in(keys, mix_group_keys(c.advertiser_id, c.identity))
    assert kept is not None
    assert kept.shape[0] < len(t) // 2
    config = EngineConfig()
    assert_same_credits(
        attribute(t, c, config, HEURISTIC), reference_attribute(t, c, config, HEURISTIC)
    )


def _same_arrays(a: Credits, b: Credits) -> None:
    for name in Credits.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@settings(max_examples=60, deadline=None)
@given(populations(), configs(), st.integers(0, 2**32 - 1))
def test_ordered_inputs_give_the_same_credits_as_shuffled_ones(
    population: Population, config: EngineConfig, seed: int
) -> None:
    """A time-ordered stream, a table ordered by journey key, or any order: the same arrays."""
    t, c = population.touches, population.conversions
    rng = np.random.default_rng(seed)
    shuffled = attribute(
        t.take(rng.permutation(len(t))), c.take(rng.permutation(len(c))), config, HEURISTIC
    )
    by_time = attribute(
        t.take(np.lexsort((t.touch_id, t.kind, t.ts_ms))),
        c.take(np.lexsort((c.conversion_id, c.ts_ms))),
        config,
        HEURISTIC,
    )
    by_key = attribute(
        t.take(np.lexsort((t.touch_id, t.kind, t.ts_ms, t.identity, t.advertiser_id))),
        c.take(np.lexsort((c.conversion_id, c.ts_ms, c.identity, c.advertiser_id))),
        config,
        HEURISTIC,
    )
    _same_arrays(by_time, shuffled)
    _same_arrays(by_key, shuffled)


@settings(max_examples=60, deadline=None)
@given(populations(), configs())
def test_one_advertiser_keyed_by_identity_equals_the_reference(
    population: Population, config: EngineConfig
) -> None:
    t, c = population.touches, population.conversions
    one_t = Touches(
        t.touch_id, t.identity, t.ts_ms, t.kind, t.partner_id, t.campaign_id,
        np.full(len(t), 1, np.int64), t.flags,
    )  # fmt: skip
    one_c = Conversions(
        c.conversion_id, c.identity, c.ts_ms, np.full(len(c), 1, np.int64), c.event_name,
        c.order_id, c.revenue, c.currency, c.click_id,
    )  # fmt: skip
    assert_same_credits(
        attribute(one_t, one_c, config, HEURISTIC),
        reference_attribute(one_t, one_c, config, HEURISTIC),
    )


# ------------------------------------------------- touches sorted one key range at a time


def _in_parts(rows: int) -> mock._patch[int]:
    """Sort the touches in parts of about `rows` rows (large batches do), whatever the size."""
    return mock.patch.object(path_entries_module, "PART_ROWS", rows)


@settings(max_examples=80, deadline=None)
@given(populations(), configs(), st.integers(1, 6))
def test_touches_sorted_in_parts_give_the_same_credits(
    population: Population, config: EngineConfig, rows: int
) -> None:
    t, c = population.touches, population.conversions
    whole = attribute(t, c, config, HEURISTIC)
    with _in_parts(rows):
        parted = attribute(t, c, config, HEURISTIC)
    _same_arrays(parted, whole)
    assert_same_credits(parted, reference_attribute(t, c, config, HEURISTIC))


@settings(max_examples=40, deadline=None)
@given(populations(), configs(), st.integers(1, 6))
def test_population_built_in_parts_is_the_same(
    population: Population, config: EngineConfig, rows: int
) -> None:
    t, c = population.touches, population.conversions
    whole = population_from_touches(t, c, config)
    with _in_parts(rows):
        parted = population_from_touches(t, c, config)
    for name in ("offsets", "partner_ids", "converted", "value"):
        np.testing.assert_array_equal(getattr(parted, name), getattr(whole, name), err_msg=name)


@pytest.mark.parametrize("advertisers", [1, 3])
@pytest.mark.parametrize("rows", [50, 700])
def test_wide_population_in_parts_equals_the_reference(advertisers: int, rows: int) -> None:
    p = wide_population(5, 6000, 1500, advertisers)
    t, c = p.touches, p.conversions
    config = EngineConfig()
    with _in_parts(rows):
        parted = attribute(t, c, config, HEURISTIC)
        rows_shuffled = np.random.default_rng(5).permutation(len(t))
        shuffled = attribute(t.take(rows_shuffled), c, config, HEURISTIC)
    _same_arrays(parted, attribute(t, c, config, HEURISTIC))
    _same_arrays(shuffled, parted)
    assert_same_credits(parted, reference_attribute(t, c, config, HEURISTIC))


def test_colliding_keys_in_parts_fall_back_to_exact_keys() -> None:
    # Two (advertiser, identity) pairs with the same mixed key land in the same part.
    mix, mask = 0x9E3779B97F4A7C15, 2**64 - 1
    raw = 7 ^ (1 * mix & mask) ^ (2 * mix & mask)
    other = raw - 2**64 if raw >= 2**63 else raw
    t = touches(T(1, 0, identity=7, advertiser=1), T(2, 1, identity=other, advertiser=2),
                T(3, 1, identity=8, advertiser=1))  # fmt: skip
    c = conversions(
        C(10, 2, 100, identity=7, advertiser=1), C(11, 2, 200, identity=other, advertiser=2)
    )
    with _in_parts(1):
        credits = attribute(t, c, None, HEURISTIC)
    assert_same_credits(credits, reference_attribute(t, c, None, HEURISTIC))

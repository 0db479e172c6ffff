"""The population straight from touches equals the one built from the engine's credits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings

from attribution.columns import Model
from attribution.engine import EngineConfig, attribute
from attribution.journey_population import population_from_touches
from attribution.markov import markov_attribution
from attribution.population import JourneyPaths, population_from_credits
from tests.attribution.journey_tables import BOT, C, T, conversions, touches
from tests.attribution.strategies import Population, configs, populations, wide_population

Journey = tuple[tuple[int, ...], bool, int]


def journeys(paths: JourneyPaths) -> Counter[Journey]:
    """The population as a multiset of (partners, converted, value)."""
    o = paths.offsets
    steps = [tuple(paths.partner_ids[o[j] : o[j + 1]].tolist()) for j in range(len(paths))]
    converted = paths.converted.tolist()
    value = np.where(paths.converted, paths.value, 0).tolist()
    return Counter(zip(steps, converted, value, strict=True))


def from_credits(population: Population, config: EngineConfig) -> JourneyPaths:
    t, c = population.touches, population.conversions
    return population_from_credits(attribute(t, c, config, (Model.LINEAR,)), t).paths


def test_hand_built_population() -> None:
    t = touches(
        T(1, 0, partner=11), T(2, 1, partner=22), T(3, 5, partner=33),  # 3: after the conversion
        T(4, 2, partner=44, flags=BOT), T(5, 0, partner=11, identity=2),
        T(6, 3, partner=22, identity=3), T(7, 1, partner=33, identity=3),
    )  # fmt: skip
    c = conversions(C(10, 4, 500), C(11, 2, 70, identity=2), C(12, 4, -5, identity=3))
    paths = population_from_touches(t, c)
    assert journeys(paths) == Counter(
        {
            ((11, 22), True, 500): 1,  # identity 1: touches 1, 2 (4 is a bot)
            ((11,), True, 70): 1,  # identity 2
            ((33,), False, 0): 1,  # identity 1: touch 3 led nowhere
            ((33, 22), False, 0): 1,  # identity 3: the conversion is a correction (< 0)
        }
    )


@settings(max_examples=120, deadline=None)
@given(populations(), configs())
def test_equals_the_population_from_linear_credits(
    population: Population, config: EngineConfig
) -> None:
    t, c = population.touches, population.conversions
    direct = population_from_touches(t, c, config)
    assert journeys(direct) == journeys(from_credits(population, config))


@settings(max_examples=40, deadline=None)
@given(populations(), configs())
def test_markov_on_it_is_identical(population: Population, config: EngineConfig) -> None:
    t, c = population.touches, population.conversions
    direct = markov_attribution(population_from_touches(t, c, config))
    expected = markov_attribution(from_credits(population, config))
    for name in ("partner_ids", "removal_effect", "share", "credited_value"):
        np.testing.assert_array_equal(getattr(direct, name), getattr(expected, name))
    assert direct.conversion_probability == expected.conversion_probability


@pytest.mark.parametrize("advertisers", [1, 3])
def test_wide_population_in_any_row_order(advertisers: int) -> None:
    """Many keys; rows ordered by journey key (no sort needed), by time, or shuffled."""
    p = wide_population(3, 4000, 800, advertisers)
    t, c = p.touches, p.conversions
    expected = journeys(from_credits(p, EngineConfig()))
    by_key = np.lexsort((t.touch_id, t.kind, t.ts_ms, t.identity, t.advertiser_id))
    by_time = np.argsort(t.ts_ms, kind="stable")
    shuffled = np.random.default_rng(0).permutation(len(t))
    for rows in (by_key, by_time, shuffled):
        assert journeys(population_from_touches(t.take(rows), c)) == expected


def test_exact_duplicate_touch_rows_count_once() -> None:
    t = touches(
        T(1, 0, partner=11), T(1, 0, partner=11), T(2, 1, partner=22),  # touch 1 twice
        T(3, 2, partner=33, identity=2), T(3, 2, partner=33, identity=2),  # touch 3 twice
        T(4, 3, partner=44, identity=2),
    )  # fmt: skip
    c = conversions(C(10, 4, 500))
    assert journeys(population_from_touches(t, c)) == Counter(
        {((11, 22), True, 500): 1, ((33, 44), False, 0): 1}
    )
    assert journeys(population_from_touches(t, c)) == journeys(
        from_credits(Population(t, c), EngineConfig())
    )

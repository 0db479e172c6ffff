"""Population of journeys from engine output, and population shares split onto conversions."""

from __future__ import annotations

import numpy as np
import pytest

from attribution.columns import Credits, Model, Role, Touches, TouchFlag
from attribution.population import (
    JourneyPaths,
    credits_from_shares,
    population_from_credits,
    split_by_shares,
    split_by_weights,
    split_total,
)

A, B, C = 11, 22, 33


def credits_rows(rows: list[tuple[int, int, int, int, int, int]]) -> Credits:
    """(conversion, touch, partner, model, position, credited revenue); weights by revenue."""
    conv = np.array([r[0] for r in rows], np.int64)
    credited = np.array([r[5] for r in rows], np.int64)
    length = np.array([sum(1 for s in rows if s[0] == r[0] and s[3] == r[3]) for r in rows])
    return Credits(
        conversion_id=conv,
        touch_id=np.array([r[1] for r in rows], np.int64),
        partner_id=np.array([r[2] for r in rows], np.int64),
        role=np.full(len(rows), Role.INFLUENCER, np.int8),
        model=np.array([r[3] for r in rows], np.int8),
        position=np.array([r[4] for r in rows], np.int32),
        path_length=length.astype(np.int32),
        weight=np.full(len(rows), 0.5),
        credited_revenue=credited,
    )


def touches_rows(rows: list[tuple[int, int, int, int, int]]) -> Touches:
    """(touch, identity, ts, partner, flags)."""
    n = len(rows)
    return Touches(
        touch_id=np.array([r[0] for r in rows], np.int64),
        identity=np.array([r[1] for r in rows], np.int64),
        ts_ms=np.array([r[2] for r in rows], np.int64),
        kind=np.ones(n, np.int8),
        partner_id=np.array([r[3] for r in rows], np.int64),
        campaign_id=np.zeros(n, np.int64),
        advertiser_id=np.ones(n, np.int64),
        flags=np.array([r[4] for r in rows], np.uint8),
    )


LINEAR, LAST = int(Model.LINEAR), int(Model.LAST_TOUCH)
CREDITS = credits_rows(
    [
        (900, 2, B, LINEAR, 1, 50),  # conversion 900: touches 1 (A) then 2 (B), revenue 100
        (900, 1, A, LINEAR, 0, 50),
        (900, 2, B, LAST, 1, 100),
        (800, 5, C, LINEAR, 0, 30),  # conversion 800: touch 5 (C), revenue 30
    ]
)
TOUCHES = touches_rows(
    [
        (1, 7, 100, A, 0),
        (2, 7, 200, B, 0),
        (3, 7, 300, C, 0),  # after conversion 900: a journey that led nowhere
        (4, 7, 250, A, 0),
        (6, 8, 100, B, TouchFlag.BOT),  # flagged: in no journey
        (5, 9, 100, C, 0),
        (7, 9, 50, B, 0),  # identity 9: touch 7 not in 800's path
    ]
)


def test_population_from_credits() -> None:
    population = population_from_credits(CREDITS, TOUCHES)
    paths = population.paths
    assert population.n_converting == 2
    assert population.conversion_id.tolist() == [800, 900, 0, 0]
    assert paths.offsets.tolist() == [0, 1, 3, 5, 6]
    assert paths.partner_ids.tolist() == [C, A, B, A, C, B]  # identity 7: touch 4 then 3
    assert paths.converted.tolist() == [True, True, False, False]
    assert paths.value.tolist() == [30, 100, 0, 0]
    assert CREDITS.touch_id[population.path_rows].tolist() == [5, 1, 2]


def test_credits_from_shares_follow_the_path_rows() -> None:
    population = population_from_credits(CREDITS, TOUCHES)
    shares = np.array([0.75, 0.25])  # A, B (C has none: its own path splits equally)
    out = credits_from_shares(CREDITS, population, np.array([A, B], np.int64), shares, Model.MARKOV)
    assert out.conversion_id.tolist() == [800, 900, 900]
    assert out.touch_id.tolist() == [5, 1, 2]
    assert out.model.tolist() == [Model.MARKOV] * 3
    assert out.weight.tolist() == pytest.approx([1.0, 0.75, 0.25])
    assert out.credited_revenue.tolist() == [30, 75, 25]


# ------------------------------------------------------------------ exact splits


def test_split_by_shares_divides_each_conversion_over_its_steps() -> None:
    paths = JourneyPaths.from_lists([[A, B, A], [C], [B]], [True, True, True], [1000, 7, 5])
    shares = np.array([0.5, 0.25, 0.25])
    weight, credited = split_by_shares(paths, np.array([A, B, C], np.int64), shares)
    # Journey 0: A has share .5 over two steps (.25 each), B .25 -> weights 1/3 each.
    assert weight[:3] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert credited[:3].tolist() == [334, 333, 333]
    assert credited[3:].tolist() == [7, 5]


def test_split_by_shares_falls_back_to_equal_when_no_partner_has_a_share() -> None:
    paths = JourneyPaths.from_lists([[A, B]], [True], [9])
    weight, credited = split_by_shares(paths, np.array([C], np.int64), np.array([1.0]))
    assert weight.tolist() == [0.5, 0.5]
    assert credited.tolist() == [5, 4]


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (10, [0.7, 0.2, 0.1], [7, 2, 1]),
        (1, [0.5, 0.5], [1, 0]),  # tie: the earlier row
        (5, [0, 0], [3, 2]),  # no weight: equal split
        (0, [0.3, 0.7], [0, 0]),
    ],
)
def test_split_total(total: int, weights: list[float], expected: list[int]) -> None:
    assert split_total(total, np.array(weights, float)).tolist() == expected


def test_split_by_weights_groups_sum_exactly() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 6, 200)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    totals = rng.integers(-(10**9), 10**9, 200).astype(np.int64)
    split = split_by_weights(offsets, totals, rng.random(int(offsets[-1])))
    sums = np.add.reduceat(split, offsets[:-1])
    assert sums.tolist() == totals.tolist()


def test_a_correction_is_no_journey_and_its_touches_led_nowhere() -> None:
    credits = credits_rows([(700, 1, A, LINEAR, 0, -3), (700, 2, B, LINEAR, 1, 0)])  # -3 total
    t = touches_rows([(1, 7, 100, A, 0), (2, 7, 200, B, 0)])
    population = population_from_credits(credits, t)
    assert population.n_converting == 0
    assert population.paths.partner_ids.tolist() == [A, B]
    assert population.paths.converted.tolist() == [False]


def test_free_touches_in_journey_order_and_exact_duplicates_once() -> None:
    no_credits = credits_rows([])
    t = touches_rows([(5, 7, 100, A, 0), (3, 7, 100, B, 0), (3, 7, 100, B, 0), (4, 7, 90, C, 0)])
    # Same millisecond: an impression before a click, whatever their ids.
    object.__setattr__(t, "kind", np.array([0, 1, 1, 1], np.int8))
    paths = population_from_credits(no_credits, t).paths
    assert paths.partner_ids.tolist() == [C, A, B]  # touch 3 is listed twice: counted once

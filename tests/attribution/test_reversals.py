"""Reversals: negative credits proportional to the amount, capped, exact, never below zero."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.columns import Credits, Model
from attribution.engine import attribute, concat_credits
from attribution.errors import InvalidInputError
from attribution.reversals import FULL_REVERSAL, Reversals, reverse
from tests.attribution.journey_tables import C, T, canonical, conversions, touches


def reversals(*pairs: tuple[int, int]) -> Reversals:
    return Reversals(
        np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)
    )


def linear_three(revenue: int = 1000) -> Credits:
    t = touches(T(1, 0), T(2, 1), T(3, 2))
    return attribute(t, conversions(C(10, 3, revenue)), None, (Model.LINEAR,))


def test_partial_reversal_is_proportional() -> None:
    original = linear_three()
    assert original.credited_revenue.tolist() == [334, 333, 333]
    back = canonical(reverse(original, reversals((10, 300))))
    assert back.credited_revenue.tolist() == [-100, -100, -100]  # 100.2, 99.9, 99.9 rounded
    assert back.weight.tolist() == pytest.approx([-0.3 / 3] * 3)
    assert back.touch_id.tolist() == [1, 2, 3]


def test_full_reversal_cancels_every_row_exactly() -> None:
    original = linear_three(1001)
    back = canonical(reverse(original, reversals((10, FULL_REVERSAL))))
    assert back.credited_revenue.tolist() == (-canonical(original).credited_revenue).tolist()
    assert back.weight.sum() == pytest.approx(-1.0)


def test_reversing_twice_is_capped_at_the_revenue() -> None:
    original = linear_three()
    first = reverse(original, reversals((10, 600)))
    second = reverse(original, reversals((10, 600)), already=first)
    assert int(first.credited_revenue.sum()) == -600
    assert int(second.credited_revenue.sum()) == -400
    net = canonical(original).credited_revenue + canonical(first).credited_revenue
    net += canonical(second).credited_revenue
    assert net.tolist() == [0, 0, 0]
    assert len(reverse(original, reversals((10, 1)), already=concat_credits([first, second]))) == 0


def test_one_request_larger_than_the_revenue_reverses_all() -> None:
    original = linear_three()
    assert int(reverse(original, reversals((10, 10**9))).credited_revenue.sum()) == -1000


def test_several_reversals_of_one_conversion_in_one_call_add_up() -> None:
    original = linear_three()
    assert int(reverse(original, reversals((10, 100), (10, 200))).credited_revenue.sum()) == -300


def test_each_model_is_reversed_on_its_own() -> None:
    t = touches(T(1, 0), T(2, 1), T(3, 2))
    original = attribute(t, conversions(C(10, 3, 999)), None, (Model.LAST_TOUCH, Model.LINEAR))
    back = reverse(original, reversals((10, 333)))
    for model in (Model.LAST_TOUCH, Model.LINEAR):
        assert int(back.credited_revenue[back.model == model].sum()) == -333
    assert back.touch_id[back.model == Model.LAST_TOUCH].tolist() == [3]


def test_conversion_without_revenue_reverses_its_weight_once() -> None:
    original = linear_three(0)
    first = reverse(original, reversals((10, FULL_REVERSAL)))
    assert first.credited_revenue.tolist() == [0, 0, 0]
    assert first.weight.sum() == pytest.approx(-1.0)
    assert len(reverse(original, reversals((10, FULL_REVERSAL)), already=first)) == 0


def test_other_conversions_are_untouched() -> None:
    t = touches(T(1, 0), T(2, 0, identity=2))
    original = attribute(t, conversions(C(10, 1, 500), C(11, 1, 700, identity=2)))
    back = reverse(original, reversals((11, 70), (99, 5)))
    assert back.conversion_id.tolist() == [11]
    assert back.credited_revenue.tolist() == [-70]


@pytest.mark.parametrize("amount", [0, -5])
def test_bad_amounts_are_refused(amount: int) -> None:
    with pytest.raises(InvalidInputError):
        reversals((10, amount))


@settings(max_examples=60, deadline=None)
@given(
    revenue=st.integers(0, 10**6),
    hours=st.lists(st.integers(0, 20), min_size=1, max_size=6),
    amounts=st.lists(st.integers(1, 4 * 10**5) | st.just(FULL_REVERSAL), min_size=1, max_size=5),
)
def test_cumulative_reversals_never_go_below_zero(
    revenue: int, hours: list[int], amounts: list[int]
) -> None:
    t = touches(*[T(i + 1, h) for i, h in enumerate(hours)])
    models = (Model.LINEAR, Model.TIME_DECAY, Model.POSITION_BASED)
    original = canonical(attribute(t, conversions(C(10, 21, revenue)), None, models))
    issued: list[Credits] = []
    requested = 0
    for amount in amounts:
        back = reverse(
            original, reversals((10, amount)), already=concat_credits(issued) if issued else None
        )
        issued.append(back)
        requested = revenue if amount == FULL_REVERSAL else min(revenue, requested + amount)
        total = canonical(concat_credits(issued))
        for model in models:
            mine = total.model == model
            assert int(total.credited_revenue[mine].sum()) == -requested
        assert bool((total.credited_revenue <= 0).all())
        net = original.credited_revenue.copy()
        rows = {
            (int(m), int(p)): i
            for i, (m, p) in enumerate(zip(original.model, original.position, strict=True))
        }
        for m, p, v in zip(total.model, total.position, total.credited_revenue, strict=True):
            net[rows[(int(m), int(p))]] += v
        assert bool((net >= 0).all())

"""Journey keys and the one-sort ordering, including the rare collision paths."""

from __future__ import annotations

import numpy as np
import pytest

from attribution.columns import Model
from attribution.engine import attribute
from attribution.errors import InvalidInputError
from attribution.ordering import mix_group_keys, sort_by_group_time
from attribution.reference import reference_attribute
from tests.attribution.journey_tables import (
    C,
    T,
    assert_same_credits,
    conversions,
    credited,
    touches,
)

MIX = 0x9E3779B97F4A7C15
MASK = 2**64 - 1


def colliding_identity(advertiser: int, identity: int, other_advertiser: int) -> int:
    """The identity giving (other_advertiser, it) the mixed key of (advertiser, identity)."""
    raw = identity ^ (advertiser * MIX & MASK) ^ (other_advertiser * MIX & MASK)
    return raw - 2**64 if raw >= 2**63 else raw


def test_colliding_keys_fall_back_to_exact_keys() -> None:
    other = colliding_identity(1, 7, 2)
    keys = mix_group_keys(np.array([1, 2], np.int64), np.array([7, other], np.int64))
    assert keys[0] == keys[1]  # the two pairs do collide
    t = touches(T(1, 0, identity=7, advertiser=1), T(2, 1, identity=other, advertiser=2))
    c = conversions(
        C(10, 2, 100, identity=7, advertiser=1), C(11, 2, 200, identity=other, advertiser=2)
    )
    models = (Model.LINEAR, Model.LAST_TOUCH)
    credits = attribute(t, c, None, models)
    assert credited(credits, Model.LINEAR) == {10: [(1, 100)], 11: [(2, 200)]}
    assert_same_credits(credits, reference_attribute(t, c, None, models))


def test_colliding_conversion_keys_without_touches() -> None:
    other = colliding_identity(1, 7, 2)
    t = touches(T(1, 0, identity=7, advertiser=1))
    c = conversions(
        C(10, 1, 100, identity=other, advertiser=2), C(11, 2, 200, identity=7, advertiser=1)
    )
    assert credited(attribute(t, c)) == {11: [(1, 200)]}


def test_keys_sharing_their_high_bits_are_kept_apart() -> None:
    # Keys 2 and 3 differ only in the lowest bit: packed with row numbers they share a run.
    group = np.array([3, 2, 3, 2, 2, 3], np.int64)
    time = np.array([5, 4, 3, 2, 1, 0], np.int64)
    order = sort_by_group_time(group, time, np.arange(6, dtype=np.int64))
    assert group[order.order].tolist() == [2, 2, 2, 3, 3, 3]
    assert time[order.order].tolist() == [1, 2, 4, 0, 3, 5]
    assert order.group_values.tolist() == [2, 3]


def test_ties_break_by_tiebreak_and_exact_duplicates_are_reported() -> None:
    group = np.array([1, 1, 1, 1], np.int64)
    time = np.array([5, 5, 5, 1], np.int64)
    tiebreak = np.array([9, 3, 9, 7], np.int64)
    order = sort_by_group_time(group, time, tiebreak)
    assert tiebreak[order.order].tolist() == [7, 3, 9, 9]
    assert order.duplicates.tolist() == [3]


def test_first_at_or_after() -> None:
    order = sort_by_group_time(np.array([4, 4, 8], np.int64), np.array([10, 20, 15], np.int64),
                               np.zeros(3, np.int64))  # fmt: skip
    rank = order.ranks_of(np.array([4, 4, 4, 8, 9], np.int64))
    assert rank.tolist() == [0, 0, 0, 1, -1]
    at = order.first_at_or_after(rank[:4], np.array([0, 11, 99, 15], np.int64))
    assert at.tolist() == [0, 1, 2, 2]


def test_timestamps_outside_the_supported_range_are_refused() -> None:
    t = touches(T(1, 0))
    bad = conversions(C(10, 1))
    object.__setattr__(bad, "ts_ms", np.array([-1], np.int64))
    with pytest.raises(InvalidInputError):
        attribute(t, bad)

"""Largest-remainder splits: exact sums, deterministic ties, signs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.money import split_exact
from attribution.reference import _split as reference_split


def split(amount: int, weights: list[float]) -> list[int]:
    group = np.zeros(len(weights), np.intp)
    return [int(v) for v in split_exact(np.array([amount], np.int64), group, np.array(weights))]


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        (100, [1.0], [100]),
        (100, [0.5, 0.5], [50, 50]),
        (100, [1 / 3] * 3, [34, 33, 33]),  # equal remainders: earlier positions first
        (2, [1 / 3] * 3, [1, 1, 0]),
        (
            10,
            [0.26, 0.26, 0.48],
            [3, 2, 5],
        ),  # 2.6, 2.6, 4.8: remainder .8 beats .6; tie by position
        (
            7,
            [0.1, 0.2, 0.7],
            [1, 1, 5],
        ),  # 0.7, 1.4, 4.9: floors 0, 1, 4; the .9 and .7 get one each
        (0, [0.5, 0.5], [0, 0]),
        (-100, [1 / 3] * 3, [-34, -33, -33]),
        (49, [1 / 49] * 49, [1] * 49),  # 49 * (1/49) < 1 in floats: still exact
        (3 * 2**40, [1 / 3] * 3, [2**40] * 3),
    ],
)
def test_split(amount: int, weights: list[float], expected: list[int]) -> None:
    assert split(amount, weights) == expected


def test_groups_are_independent() -> None:
    amounts = np.array([10, 7, 5], np.int64)
    group = np.array([0, 0, 1, 2, 2, 2], np.intp)
    weight = np.array([0.5, 0.5, 1.0, 0.2, 0.3, 0.5])
    # group 2: 1.0, 1.5, 2.5 -> floors 1, 1, 2; the tied .5 remainders: the earlier row wins
    assert split_exact(amounts, group, weight).tolist() == [5, 5, 7, 1, 2, 2]


def test_empty() -> None:
    assert split_exact(np.zeros(0, np.int64), np.zeros(0, np.intp), np.zeros(0)).tolist() == []


@settings(max_examples=200, deadline=None)
@given(
    amount=st.integers(-(10**12), 10**12),
    raw=st.lists(
        st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False), min_size=1, max_size=12
    ),
)
def test_sums_exactly_and_stays_near_the_quota(amount: int, raw: list[float]) -> None:
    total = sum(raw)
    weights = [w / total for w in raw] if total > 0 else [1 / len(raw)] * len(raw)
    got = split(amount, weights)
    assert sum(got) == amount
    for g, w in zip(got, weights, strict=True):
        assert abs(g - amount * w) < 1 + 1e-6 * abs(amount)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-(10**9), 10**9),
            st.lists(st.sampled_from([0.5, 0.25, 1 / 3, 0.1, 0.7, 1.0]), min_size=1, max_size=6),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_many_groups_equal_the_reference_split(
    groups: list[tuple[int, list[float], bool]],
) -> None:
    """Groups of equal remainders (ranked by position) beside groups of differing ones (ranked
    by a sort), each split as the reference splits it on its own."""
    amounts, group, weights, expected = [], [], [], []
    for g, (amount, raw, equal) in enumerate(groups):
        shares = [raw[0]] * len(raw) if equal else raw
        total = sum(shares)
        normalised = [w / total for w in shares]
        amounts.append(amount)
        group += [g] * len(raw)
        weights += normalised
        expected += reference_split(amount, normalised)
    got = split_exact(np.array(amounts, np.int64), np.array(group, np.intp), np.array(weights))
    assert got.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-(2**50), 2**50),  # exact below 2**53, like every float split
    st.lists(st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False), min_size=1, max_size=64),
)
def test_one_small_group_is_split_as_in_arrays(amount: int, raw: list[float]) -> None:
    """One group of few rows takes a plain-Python path: the same as the array one."""
    total = sum(raw)
    weights = np.array([w / total for w in raw] if total > 0 else [1 / len(raw)] * len(raw))
    alone = split_exact(np.array([amount], np.int64), np.zeros(len(raw), np.intp), weights)
    # A second (empty) group sends the same rows down the array path.
    with_other = split_exact(np.array([amount, 0], np.int64), np.zeros(len(raw), np.intp), weights)
    assert alone.tolist() == with_other.tolist()
    assert sum(alone.tolist()) == amount

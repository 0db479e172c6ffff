"""Journey keys and the one-sort ordering, including the rare collision paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.columns import Model
from attribution.engine import attribute
from attribution.errors import InvalidInputError
from attribution.ordering import (
    expand_ranges,
    mix_group_keys,
    rows_maybe_in,
    sort_by_group_time,
)
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


# ---------------------------------------------------------- the linear-time grouping


def expected_order(group: np.ndarray, time: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Rows by (group, time, tiebreak), input order among exact ties."""
    return np.lexsort((np.arange(group.shape[0]), tiebreak, time, group))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 400),
    st.sampled_from(["random", "low_bits", "high_bits", "small"]),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_sort_by_group_time_equals_a_lexsort(n: int, keys: str, seed: int, presorted: bool) -> None:
    rng = np.random.default_rng(seed)
    distinct = {
        "random": rng.integers(-(2**63), 2**63 - 1, 30, dtype=np.int64),
        # Keys sharing their 32 high bits: one run of the radix sort, ordered afterwards.
        "low_bits": rng.integers(0, 2**20, 30) + (rng.integers(-4, 4) << 40),
        "high_bits": rng.integers(-(2**31), 2**31, 30) << 32,  # differ in the high bits only
        "small": rng.integers(0, 5, 30),
    }[keys].astype(np.int64)
    group = distinct[rng.integers(0, distinct.shape[0], n)]
    time = rng.integers(0, 50, n).astype(np.int64)  # many exact ties
    tiebreak = rng.integers(0, 4, n).astype(np.int64)  # and exact duplicates
    if presorted:  # a table already in (group, time) order takes the one-pass path
        rows = np.lexsort((time, group))
        group, time, tiebreak = group[rows], time[rows], tiebreak[rows]
    got = sort_by_group_time(group, time, tiebreak)
    want = expected_order(group, time, tiebreak)
    assert got.order.tolist() == want.tolist()
    assert got.group_values.tolist() == np.unique(group).tolist()
    assert (got.keys[1:] >= got.keys[:-1]).all()
    key = np.stack([group, time, tiebreak])[:, want]
    repeated = np.flatnonzero((key[:, 1:] == key[:, :-1]).all(axis=0)) + 1
    assert got.duplicates.tolist() == repeated.tolist()
    ranks = got.ranks_of(group)
    assert (got.group_values[ranks] == group).all()


@pytest.mark.parametrize(
    ("value", "count", "step", "expected"),
    [
        ([5, 9, 2], [2, 0, 3], 1, [5, 6, 2, 3, 4]),
        ([5, 9, 2], [2, 1, 3], 0, [5, 5, 9, 2, 2, 2]),
        ([7], [0], 1, []),
        ([0, 0], [1, 1], 1, [0, 0]),
        ([-3, 4], [2, 2], 1, [-3, -2, 4, 5]),
    ],
)
def test_expand_ranges(value: list[int], count: list[int], step: int, expected: list[int]) -> None:
    got = expand_ranges(np.array(value, np.int64), np.array(count, np.int64), step=step)
    assert got.tolist() == expected


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 5000), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_rows_maybe_in_misses_no_wanted_key(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    wanted = np.concatenate([rng.choice(keys, min(m, n)) if n else keys, rng.integers(0, 9, 3)])
    kept = rows_maybe_in(keys, wanted)
    member = np.flatnonzero(np.isin(keys, wanted))
    if kept is None:  # it would keep most rows: every row is taken
        return
    assert (np.diff(kept) > 0).all()  # in order
    assert set(member.tolist()) <= set(kept.tolist())
    assert kept.shape[0] < 0.8 * n


def test_rows_maybe_in_filters_most_other_rows() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(-(2**63), 2**63 - 1, 100_000, dtype=np.int64)
    kept = rows_maybe_in(keys, keys[:1000])
    assert kept is not None
    others = kept.shape[0] - 1000  # about 1 other row in 10 (8 table bits per wanted key)
    assert 0.05 * 99_000 < others < 0.15 * 99_000


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 200),
    st.sampled_from(["random", "small", "extremes"]),
    st.integers(0, 2**32 - 1),
)
def test_ranges_of_queries_equal_a_scan(n: int, keys: str, seed: int) -> None:
    """Candidate ranges by key (no rank: keys spanning few bits) or by rank, as a scan finds."""
    rng = np.random.default_rng(seed)
    distinct = {
        "random": rng.integers(-(2**63), 2**63 - 1, 8, dtype=np.int64),
        "small": rng.integers(-5, 20, 8),
        "extremes": np.array([-(2**63), 2**63 - 1, 0, 1, -1, 5, 6, 7]),
    }[keys].astype(np.int64)
    group = distinct[rng.integers(0, 8, n)]
    time = rng.integers(0, 40, n).astype(np.int64)
    order = sort_by_group_time(group, time, np.arange(n, dtype=np.int64))
    q_group = np.concatenate([distinct, rng.integers(-(2**63), 2**63 - 1, 4, dtype=np.int64)])
    q_start = rng.integers(-5, 45, q_group.shape[0]).astype(np.int64)
    q_end = q_start + rng.integers(0, 20, q_group.shape[0])
    sorted_group, sorted_time = group[order.order], time[order.order]
    for i in range(q_group.shape[0]):
        inside = (
            (sorted_group == q_group[i]) & (sorted_time >= q_start[i]) & (sorted_time < q_end[i])
        )
        expected = np.flatnonzero(inside).tolist()
        if order.key_base is not None:
            lo, count = order.ranges_of(q_group[i : i + 1], q_start[i : i + 1], q_end[i : i + 1])
            got = list(range(int(lo[0]), int(lo[0] + count[0])))
        else:
            rank = order.ranks_of(q_group[i : i + 1])
            if rank[0] < 0:
                got = []
            else:
                lo = order.first_at_or_after(rank, q_start[i : i + 1])
                end = order.first_at_or_after(rank, q_end[i : i + 1])
                got = list(range(int(lo[0]), max(int(end[0]), int(lo[0]))))
        assert got == expected
    assert order.key_base is not None or keys != "small"

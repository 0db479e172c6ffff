"""Splitting rows into parts by key range: every row lands in the part of its key, in order."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution import key_ranges
from attribution.key_ranges import KeyRanges, split_rows
from attribution.ordering import KeyFilter

KEYS = ["hashed", "small", "sorted"]


def _keys(n: int, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "small":
        return rng.integers(1, 50, n).astype(np.int64)
    keys = rng.integers(-(2**63), 2**63 - 1, max(n // 3, 1), dtype=np.int64)[
        rng.integers(0, max(n // 3, 1), n)
    ]
    return np.sort(keys) if kind == "sorted" else keys


def test_ranges_cover_the_span_in_key_order() -> None:
    ranges = KeyRanges.covering(-(2**63), 2**63 - 1, rows=1000, part_rows=100)
    assert ranges.count == 16  # 10 parts wanted: the next power of two
    keys = np.array([-(2**63), -1, 0, 1, 2**62, 2**63 - 1], np.int64)
    parts = ranges.parts_of(keys)
    assert parts.tolist() == sorted(parts.tolist())
    assert parts[0] == 0
    assert parts[-1] == ranges.count - 1
    one = KeyRanges.covering(5, 5, rows=10**6, part_rows=10)  # a single key: a single part
    assert one.count == 1
    assert one.parts_of(np.array([5], np.int64)).tolist() == [0]


@settings(max_examples=120, deadline=None)
@given(
    st.integers(0, 600),
    st.sampled_from(KEYS),
    st.integers(1, 9),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_split_rows_puts_each_row_in_the_part_of_its_key(
    n: int, kind: str, step: int, filtered: bool, seed: int
) -> None:
    keys = _keys(n, kind, seed)
    rng = np.random.default_rng(seed + 1)
    wanted = np.unique(rng.choice(keys, min(n, 20))) if n else keys
    low, high = (int(wanted[0]), int(wanted[-1])) if wanted.shape[0] else (0, 0)
    ranges = KeyRanges.covering(low, high, rows=n, part_rows=max(n // 7, 1))
    with mock.patch.object(key_ranges, "_SCAN_ROWS", step):  # many scan steps
        parts = split_rows(keys, ranges, KeyFilter(wanted) if filtered else None)
        doubled = parts.column(lambda rows: keys[rows] * 2)
    inside = (keys >= low) & (keys <= high)
    if filtered:
        assert set(np.flatnonzero(np.isin(keys, wanted)).tolist()) <= set(parts.rows.tolist())
    else:
        assert parts.rows.shape[0] == int(inside.sum())
    for p in range(ranges.count):
        rows = parts.rows[parts.slice(p)]
        assert (np.diff(rows) > 0).all()  # input order inside a part
        assert (ranges.parts_of(keys[rows]) == p).all()
        assert inside[rows].all()
    assert sorted(parts.rows.tolist()) == sorted(set(parts.rows.tolist()))  # each row once
    assert doubled.tolist() == (keys[parts.rows] * 2).tolist()


def test_rows_of_parts_in_key_order_are_taken_in_place() -> None:
    keys = np.repeat(np.arange(10, dtype=np.int64), 5)
    ranges = KeyRanges.covering(0, 9, rows=50, part_rows=10)
    with mock.patch.object(key_ranges, "_SCAN_ROWS", 8):
        parts = split_rows(keys, ranges)
    assert parts.rows.tolist() == list(range(50))
    assert parts.bounds[-1] == 50


@pytest.mark.parametrize("count", [1, 300])  # 8-bit and 16-bit part numbers
def test_split_rows_with_many_parts(count: int) -> None:
    keys = np.random.default_rng(3).integers(0, 10_000, 5000).astype(np.int64)
    ranges = KeyRanges.covering(0, 9_999, rows=5000, part_rows=max(5000 // count, 1))
    parts = split_rows(keys, ranges)
    assert ranges.count >= count
    got = np.concatenate([keys[parts.rows[parts.slice(p)]] for p in range(ranges.count)])
    assert (ranges.parts_of(got)[1:] >= ranges.parts_of(got)[:-1]).all()
    assert sorted(got.tolist()) == sorted(keys.tolist())

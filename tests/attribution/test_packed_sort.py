"""Stable argsorts through `numpy.sort` of packed keys equal numpy's stable argsort."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.packed_sort import sort_by_leading_bits, stable_argsort

SPANS = {
    "tiny": (0, 4),  # many equal keys: stability shows
    "small": (-1000, 1000),
    "wide": (-(2**40), 2**40),  # span + row bits near 64: one pass or two
    "full": (-(2**63), 2**63 - 1),  # the whole int64 range: always two passes
}


def _values(n: int, span: str, seed: int) -> np.ndarray:
    low, high = SPANS[span]
    return np.random.default_rng(seed).integers(low, high, n, dtype=np.int64, endpoint=True)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 3000), st.sampled_from(sorted(SPANS)), st.integers(0, 2**32 - 1))
def test_stable_argsort_equals_numpys(n: int, span: str, seed: int) -> None:
    values = _values(n, span, seed)
    got = stable_argsort(values)
    assert got.dtype == np.intp
    assert got.tolist() == np.argsort(values, kind="stable").tolist()


def test_stable_argsort_of_the_extremes() -> None:
    values = np.array([2**63 - 1, -(2**63), 0, -(2**63), 2**63 - 1, -1], np.int64)
    assert stable_argsort(values).tolist() == [1, 3, 5, 2, 0, 4]
    assert stable_argsort(np.zeros(0, np.int64)).tolist() == []
    assert stable_argsort(np.array([5], np.int64)).tolist() == [0]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3000), st.sampled_from(sorted(SPANS)), st.integers(0, 2**32 - 1))
def test_sort_by_leading_bits_orders_stably_by_the_kept_bits(n: int, span: str, seed: int) -> None:
    values = _values(n, span, seed)
    rows, leading, dropped = sort_by_leading_bits(values)
    offset = values.view(np.uint64) - np.uint64(int(values.min()) & (2**64 - 1))
    kept = offset >> np.uint64(dropped)
    assert rows.tolist() == np.argsort(kept, kind="stable").tolist()
    assert leading.tolist() == kept[rows].tolist()
    span_bits = (int(values.max()) - int(values.min())).bit_length()
    assert dropped == max(span_bits + max((n - 1).bit_length(), 1) - 64, 0)

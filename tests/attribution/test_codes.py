"""Dense codes of few distinct values equal `np.unique(..., return_inverse=True)`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.codes import dense_codes


def check(values: np.ndarray) -> None:
    distinct, codes = dense_codes(values)
    want_distinct, want_codes = np.unique(values, return_inverse=True)
    assert distinct.dtype == codes.dtype == np.int64
    assert distinct.tolist() == want_distinct.tolist()
    assert codes.tolist() == want_codes.reshape(-1).tolist()


@pytest.mark.parametrize(
    "values",
    [
        [],
        [5],
        [3, 1, 2, 3, 1],  # small ids: a presence table
        [-7, 4, -7, 0],  # negative ones
        [10**12 + 3, 10**12, 10**12 + 3],  # a narrow range far from 0
        [2**62, -(2**62), 17, 2**62],  # hashed ids: sample and lookup
        [-(2**63), 2**63 - 1, 0],  # the extremes
    ],
)
def test_cases(values: list[int]) -> None:
    check(np.array(values, np.int64))


def test_values_the_sample_misses_are_found() -> None:
    rng = np.random.default_rng(5)
    common = rng.integers(-(2**63), 2**63 - 1, 20, dtype=np.int64)
    values = common[rng.integers(0, 20, 100_000)]
    values[rng.integers(0, 100_000, 50)] = rng.integers(-(2**63), 2**63 - 1, 50)  # rare ones
    check(values)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30),
    st.integers(0, 3000),
    st.integers(0, 2**32 - 1),
)
def test_any_values(distinct: list[int], n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    check(np.array(distinct, np.int64)[rng.integers(0, len(distinct), n)])

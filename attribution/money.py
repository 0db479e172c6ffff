"""Exact money: amounts split over weights in integer minor units (largest remainder).

Each group's amount `A` (minor units, any sign) is split over its rows with weights `w`
(summing to about 1): row i first gets `floor(|A| * w_i)`, then the units still missing go one
each to the rows with the largest remainders `|A| * w_i - floor(|A| * w_i)`; the sign of `A`
is applied last. The credited amounts of a group always sum to `A` exactly.

Remainders are compared at a resolution of 2**-32 (`floor(remainder * 2**32)`), and equal
ones are broken by row order (the path position): the result is deterministic and does not
depend on float noise below that resolution. The reference implementation uses the same rule.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from attribution.columns import F64, I64

REMAINDER_BITS = 32


def split_exact(amount: I64, group: NDArray[np.intp], weight: F64) -> I64:
    """Split `amount[g]` over the rows of each group g (rows of a group contiguous, in order).

    `group` holds, per row, the index of its group in `amount`; groups are non-decreasing.
    """
    n = group.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    size = np.abs(amount)
    exact = size.astype(np.float64)[group] * weight
    base = np.floor(exact)
    remainder = exact - base
    credited = base.astype(np.int64)
    missing = size - np.bincount(group, credited, minlength=amount.shape[0]).astype(np.int64)
    rows_of = np.bincount(group, minlength=amount.shape[0])
    missing = np.clip(missing, 0, rows_of)
    if bool(missing.any()):
        # Rank rows inside their group by remainder (descending), ties by row order: one
        # stable sort of an almost sorted composite key (groups are already contiguous).
        dense = np.cumsum(np.concatenate([[True], group[1:] != group[:-1]])) - 1
        quantum = np.floor(remainder * float(1 << REMAINDER_BITS)).astype(np.int64)
        key = (dense << REMAINDER_BITS) | ((1 << REMAINDER_BITS) - 1 - quantum)
        order = np.argsort(key, kind="stable")
        first_row = np.zeros(amount.shape[0] + 1, np.int64)
        np.cumsum(rows_of, out=first_row[1:])
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n) - first_row[group[order]]
        credited += rank < missing[group]
    return np.where(amount[group] < 0, -credited, credited)


def split_exact_one(amount: int, weights: list[float]) -> list[int]:
    """`split_exact` for a single group (scalar convenience for reports and tests)."""
    if not weights:
        return []
    group = np.zeros(len(weights), np.intp)
    split = split_exact(np.array([amount], np.int64), group, np.array(weights, np.float64))
    return [int(v) for v in split]

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

import math

import numpy as np
from numpy.typing import NDArray

from attribution.columns import F64, I64
from attribution.ordering import expand_ranges

REMAINDER_BITS = 32


def split_exact(amount: I64, group: NDArray[np.intp], weight: F64) -> I64:
    """Split `amount[g]` over the rows of each group g (rows of a group contiguous, in order).

    `group` holds, per row, the index of its group in `amount`; groups are non-decreasing.
    Rows are ranked by remainder inside their group only where the remainders differ: where
    they are all equal (a linear split, say) the rank is the row's position.
    """
    n = group.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    m = amount.shape[0]
    if m == 1 and n <= _FEW:
        return np.array(_split_one(int(amount[0]), weight.tolist()), np.int64)
    size = np.abs(amount)
    remainder = size.astype(np.float64)[group]
    remainder *= weight
    base = np.floor(remainder)
    remainder -= base
    credited = base.astype(np.int64)
    missing = size - np.bincount(group, credited, minlength=m).astype(np.int64)
    rows_of = np.bincount(group, minlength=m)
    np.clip(missing, 0, rows_of, out=missing)
    if bool(missing.any()):
        remainder *= float(1 << REMAINDER_BITS)
        quantum = np.floor(remainder).astype(np.int64)
        first_row = np.zeros(m + 1, np.int64)
        np.cumsum(rows_of, out=first_row[1:])
        rank = np.arange(n, dtype=np.int64)  # the position in the group, for now
        rank -= first_row[group]
        differs = quantum[1:] != quantum[:-1]
        differs &= group[1:] == group[:-1]
        if bool(differs.any()):
            _rank_by_remainder(rank, quantum, group, differs, first_row, rows_of)
        credited += rank < missing[group]
    if bool((amount < 0).any()):
        np.negative(credited, out=credited, where=amount[group] < 0)
    return credited


_FEW = 64  # one group of at most this many rows is split in plain Python (no array overhead)


def _split_one(amount: int, weights: list[float]) -> list[int]:
    """`split_exact` of one group, the same float operations one row at a time."""
    size = abs(amount)
    exact = [float(size) * w for w in weights]
    credited = [math.floor(x) for x in exact]
    total = 0.0
    for c in credited:  # summed as floats in row order, as `numpy.bincount` sums them
        total += c
    missing = min(max(size - int(total), 0), len(weights))
    if missing:
        quanta = [
            math.floor((x - c) * float(1 << REMAINDER_BITS))
            for x, c in zip(exact, credited, strict=True)
        ]
        for i in sorted(range(len(weights)), key=lambda i: (-quanta[i], i))[:missing]:
            credited[i] += 1
    return [-c for c in credited] if amount < 0 else credited


def _rank_by_remainder(
    rank: I64,
    quantum: I64,
    group: NDArray[np.intp],
    differs: NDArray[np.bool_],
    first_row: I64,
    rows_of: NDArray[np.intp],
) -> None:
    """Rank (in place) the rows of the groups whose remainders differ: largest remainder first,
    ties by row order; one stable sort of the composite keys of those rows only (groups are
    contiguous already: numpy's stable sort, a merge sort, runs fast on such keys)."""
    mixed = group[1:][differs]  # non-decreasing
    if mixed.shape[0] > 1:
        mixed = mixed[np.concatenate([[True], mixed[1:] != mixed[:-1]])]
    at = expand_ranges(first_row[mixed], rows_of[mixed], step=1)
    local = np.repeat(np.arange(mixed.shape[0], dtype=np.int64), rows_of[mixed])
    key = local << REMAINDER_BITS
    key |= (1 << REMAINDER_BITS) - 1 - quantum[at]
    order = np.argsort(key, kind="stable")
    local_first = np.cumsum(rows_of[mixed]) - rows_of[mixed]
    ranked = np.arange(at.shape[0], dtype=np.int64)
    ranked -= local_first[local[order]]
    rank[at[order]] = ranked


def split_exact_one(amount: int, weights: list[float]) -> list[int]:
    """`split_exact` for a single group (scalar convenience for reports and tests)."""
    if not weights:
        return []
    group = np.zeros(len(weights), np.intp)
    split = split_exact(np.array([amount], np.int64), group, np.array(weights, np.float64))
    return [int(v) for v in split]

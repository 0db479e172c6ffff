"""Stable argsorts of int64 keys through `numpy.sort` of packed keys.

`numpy.sort` of 64-bit integers is vectorised (SIMD quicksort) and several times faster than
`numpy.argsort`, whose stable kind is a merge sort on 64-bit keys. A stable argsort is a sort
of `(key - min) << b | row` (b bits hold a row number): the rows come out of the low bits, in
key order and, among equal keys, in row order. That needs the key's span and the row number
to fit 64 bits together:

- `stable_argsort(values)`: exact. When the span is too wide for one packed key, two passes
  (least significant half first, then the most significant one, each stable).
- `sort_by_leading_bits(values)`: one pass over the leading bits of the key only; rows whose
  keys differ only in the dropped bits may come out interleaved: the caller finds those runs
  (hashed keys of a few million rows: a handful of rows, if any) and orders them with
  `stable_argsort`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64


def stable_argsort(values: I64) -> NDArray[np.intp]:
    """`numpy.argsort(values, kind="stable")`, exactly."""
    n = values.shape[0]
    if n < 2:
        return np.zeros(n, np.intp) if n == 0 else np.zeros(1, np.intp)
    offset, span_bits = _offsets(values)
    row_bits = _row_bits(n)
    if span_bits + row_bits <= 64:
        return _sorted_rows(offset, row_bits)
    low_bits = 64 - row_bits  # two stable passes: the low bits, then the high ones
    by_low = _sorted_rows(offset & np.uint64((1 << low_bits) - 1), row_bits)
    high = offset[by_low]
    high >>= np.uint64(low_bits)
    return by_low[_sorted_rows(high, row_bits)]


def sort_by_leading_bits(values: I64) -> tuple[NDArray[np.intp], NDArray[np.uint64], int]:
    """Rows ordered stably by the leading bits of `values - min`, in one pass.

    Returns (rows, leading bits of each row's key in that order, number of bits dropped at the
    low end: 0 means the order is exact).
    """
    n = values.shape[0]
    offset, span_bits = _offsets(values)
    row_bits = _row_bits(n)
    dropped = max(span_bits + row_bits - 64, 0)
    if dropped:
        offset >>= np.uint64(dropped)
    packed = _packed(offset, row_bits)
    rows = (packed & np.uint64((1 << row_bits) - 1)).astype(np.intp)
    packed >>= np.uint64(row_bits)
    return rows, packed, dropped


def _offsets(values: I64) -> tuple[NDArray[np.uint64], int]:
    """`values - min` as unsigned ints (exact: the span of int64s fits 64 bits), span's bits."""
    low, high = int(values.min()), int(values.max())
    offset = values.view(np.uint64) - np.uint64(low & 0xFFFF_FFFF_FFFF_FFFF)
    return offset, (high - low).bit_length()


def _row_bits(n: int) -> int:
    return max((n - 1).bit_length(), 1)


def _packed(offset: NDArray[np.uint64], row_bits: int) -> NDArray[np.uint64]:
    """`offset << row_bits | row`, sorted (in place if `offset` is a temporary)."""
    packed = offset << np.uint64(row_bits) if row_bits else offset.copy()
    packed |= np.arange(offset.shape[0], dtype=np.uint64)
    packed.sort()
    return packed


def _sorted_rows(offset: NDArray[np.uint64], row_bits: int) -> NDArray[np.intp]:
    packed = _packed(offset, row_bits)
    packed &= np.uint64((1 << row_bits) - 1)
    return packed.view(np.intp)

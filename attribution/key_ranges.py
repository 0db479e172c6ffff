"""Splitting touches into parts by journey key range, so that each part's arrays stay small.

Journeys never cross keys, so the touches of a batch can be put in journey order one part at
a time, each part holding the keys of one contiguous key range: the parts, taken in turn, give
the same order as one sort of every touch, and the arrays of a part (a few hundred thousand
rows) stay in the CPU cache and in memory the allocator reuses. One sort of ten million touches
instead works on arrays of tens of megabytes: every gather misses the cache, and every
temporary is fresh memory from the kernel (`malloc` maps blocks that large and unmaps them when
freed), zeroed page by page.

`KeyRanges` cuts the key span `[low, high]` into equal ranges of `2**shift` keys (the part of a
key is `(key - low) >> shift`, non-decreasing in the key); `split_rows` gives the rows of each
part, in their input order inside a part (a time-ordered stream stays so), leaving out rows
whose key is outside the span and, optionally, rows whose key cannot be one of the wanted keys
(the bitmap semi-join of `attribution.ordering.rows_maybe_in`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64
from attribution.ordering import KeyFilter
from attribution.packed_sort import stable_argsort

PART_ROWS = 1 << 18  # touches per part, about: the arrays of a part stay cache-sized
_SCAN_ROWS = 1 << 18  # input rows per step of the scan that assigns parts


@dataclass(frozen=True, slots=True)
class KeyRanges:
    """Parts `0 .. count - 1` of the keys `[low, high]`, each a range of `2**shift` keys."""

    low: int
    high: int
    shift: int

    @classmethod
    def covering(cls, low: int, high: int, rows: int, part_rows: int = PART_ROWS) -> KeyRanges:
        """Ranges over `[low, high]` for `rows` rows: about `part_rows` rows per part if the
        keys spread evenly over the span (hashed keys do), a power of two of parts."""
        wanted = max(1, -(-rows // max(part_rows, 1)))
        part_bits = (wanted - 1).bit_length()
        return cls(low, high, max((high - low).bit_length() - part_bits, 0))

    @property
    def count(self) -> int:
        return ((self.high - self.low) >> self.shift) + 1

    def offset(self, keys: I64) -> NDArray[np.uint64]:
        """`key - low` of each key, as an unsigned int (exact: the span is below 2**64)."""
        return keys.view(np.uint64) - np.uint64(self.low & 0xFFFF_FFFF_FFFF_FFFF)

    def parts_of(self, keys: I64) -> NDArray[np.intp]:
        """Part of each key (keys inside `[low, high]`)."""
        return (self.offset(keys) >> np.uint64(self.shift)).astype(np.intp)


_T = TypeVar("_T", bound=np.generic)


class RowParts:
    """Rows of a table split into parts, and the columns of those rows laid out part by part.

    Part p holds positions `bounds[p]:bounds[p + 1]` of the laid-out columns: `rows` (the input
    row at each position, increasing inside a part) and any `column(...)`. A column is laid out
    by scattering the selected rows, read in input order, to their positions: reads are
    sequential and each part is one sequential write stream, so memory is touched a cache
    line at a time, where gathering each part's rows from the whole table would miss the cache
    on nearly every row.
    """

    __slots__ = ("_kept", "_position", "bounds", "rows")

    def __init__(
        self,
        kept: list[NDArray[np.intp]],
        position: list[NDArray[np.intp]] | None,
        bounds: NDArray[np.intp],
    ) -> None:
        self._kept = kept  # the selected input rows, in input order, a step of rows at a time
        self._position = position  # position of each selected row (None: already in order)
        self.bounds = bounds
        self.rows = self.column(lambda rows: rows)

    def slice(self, part: int) -> slice:
        return slice(int(self.bounds[part]), int(self.bounds[part + 1]))

    def column(self, values: Callable[[NDArray[np.intp]], NDArray[_T]]) -> NDArray[_T]:
        """`values(rows)` of every selected row (computed a step of rows at a time), laid out."""
        kept, position = self._kept, self._position
        if position is None:
            return values(kept[0]) if len(kept) == 1 else np.concatenate([values(k) for k in kept])
        out: NDArray[_T] | None = None
        for rows, at in zip(kept, position, strict=True):
            got = values(rows)
            if out is None:
                out = np.empty(int(self.bounds[-1]), got.dtype)
            out[at] = got
        assert out is not None
        return out


def split_rows(keys: I64, ranges: KeyRanges, wanted: KeyFilter | None = None) -> RowParts:
    """The rows of `keys` in each part of `ranges` (see the module docstring).

    Rows whose key is outside `[ranges.low, ranges.high]` are left out; with `wanted`, so are
    the rows its filter rules out (it keeps every row whose key is wanted).

    One scan assigns each row its part, a step of rows at a time; then each step's rows are
    ordered by part (a small stable sort) and given their positions: after the rows of the
    same part in earlier steps.
    """
    n = keys.shape[0]
    span = np.uint64(ranges.high - ranges.low)
    shift = np.uint64(ranges.shift)
    n_parts = ranges.count
    small = n_parts <= 1 << 8  # part numbers fit a byte
    kept: list[NDArray[np.intp]] = []
    parts: list[NDArray[np.intp]] = []
    for start in range(0, max(n, 1), _SCAN_ROWS):
        chunk = keys[start : start + _SCAN_ROWS]
        offset = ranges.offset(chunk)
        inside = offset <= span
        if wanted is not None:
            inside &= wanted.may_hold(chunk)
        at = np.flatnonzero(inside)
        part = offset[at] if at.shape[0] < chunk.shape[0] else offset
        part >>= shift
        at += start
        kept.append(at)
        parts.append(part.view(np.intp))
    counts = np.stack([np.bincount(p, minlength=n_parts) for p in parts])
    bounds = np.zeros(n_parts + 1, np.intp)
    np.cumsum(counts.sum(axis=0), out=bounds[1:])
    if all(_non_decreasing(p) for p in parts) and _parts_follow(parts):
        return RowParts(kept, None, bounds)  # rows already come part after part
    first = np.cumsum(counts, axis=0)  # the first position of each (step, part)
    first -= counts
    first += bounds[:-1]
    position = []
    for step_parts, base, step_counts in zip(parts, first, counts, strict=True):
        if small:  # numpy's stable sort of bytes is a radix sort
            by_part = np.argsort(step_parts.astype(np.uint8), kind="stable")
        else:
            by_part = stable_argsort(step_parts)
        in_order = step_parts[by_part]
        step_first = np.cumsum(step_counts)
        step_first -= step_counts
        at = np.arange(step_parts.shape[0], dtype=np.intp)
        at += (base - step_first)[in_order]
        placed = np.empty(step_parts.shape[0], np.intp)
        placed[by_part] = at
        position.append(placed)
    return RowParts(kept, position, bounds)


def _non_decreasing(values: NDArray[np.intp]) -> bool:
    return values.shape[0] < 2 or bool((values[1:] >= values[:-1]).all())


def _parts_follow(parts: list[NDArray[np.intp]]) -> bool:
    """Each step's first part is at least the previous step's last one."""
    ends = [(int(p[0]), int(p[-1])) for p in parts if p.shape[0]]
    return all(b[0] >= a[1] for a, b in itertools.pairwise(ends))

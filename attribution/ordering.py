"""Grouping rows by journey key and ordering them in time, with one full sort.

A journey key is the pair (advertiser, identity). Both are int64 hashes, so the pair is mixed
into one int64 (`identity ^ advertiser * K`, K odd): for a fixed advertiser this is a bijection
of the identity, hence two different pairs share a key only if their advertisers differ. The
callers check that (one comparison per row) and, in the astronomically rare case it happens,
fall back to exact dense ranks of the pairs (`exact_group_keys`).

`sort_by_group_time` orders rows by (group, time, tiebreak): a stable sort of the group keys
(`attribution.packed_sort`: one `numpy.sort` of packed keys; it keeps each group in input
order, which for a time-ordered stream is time order), a sort of only the groups whose
composite keys `group field << shift | time` are not in order yet (found in one pass), then a
small fix-up of the rare exact ties by `tiebreak`. The group field is the group's rank or,
when the group keys span few enough bits (small ids), the key itself less the smallest one.
The sorted composite keys are kept: `searchsorted` on them finds, for any (group, time), the
first row of that group at or after that time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64
from attribution.errors import InvalidInputError
from attribution.packed_sort import sort_by_leading_bits, stable_argsort

_MIX = np.uint64(0x9E3779B97F4A7C15)


class KeyCollisionError(Exception):
    """Two different (advertiser, identity) pairs got the same mixed key (internal signal)."""


def mix_group_keys(advertiser_id: I64, identity: I64) -> I64:
    mixed = advertiser_id.view(np.uint64) * _MIX ^ identity.view(np.uint64)
    return mixed.view(np.int64)


def exact_group_keys(advertiser_ids: list[I64], identities: list[I64]) -> list[I64]:
    """Dense ranks of the pairs, shared by several tables (collision-free, one lexsort)."""
    adv = np.concatenate(advertiser_ids)
    ident = np.concatenate(identities)
    order = np.lexsort((ident, adv))
    new = np.ones(order.shape[0], np.bool_)
    new[1:] = (adv[order][1:] != adv[order][:-1]) | (ident[order][1:] != ident[order][:-1])
    ranks = np.empty(order.shape[0], np.int64)
    ranks[order] = np.cumsum(new) - 1
    bounds = np.cumsum([0, *(a.shape[0] for a in advertiser_ids)])
    return [ranks[a:b] for a, b in itertools.pairwise(bounds)]


class KeyFilter:
    """A semi-join filter: `may_hold(keys)` is True for every wanted key, False for most others.

    A bitmap of about 8 bits per wanted key, indexed by a multiplicative hash of the key: no
    wanted key is missed, and about 1 other key in 10 gets through. The bits are packed 8 to a
    byte, so that the bitmap of a million keys (1 MiB) stays in the CPU cache.
    """

    __slots__ = ("_bits", "_table")

    def __init__(self, wanted: I64) -> None:
        self._bits = max(wanted.shape[0].bit_length() + 3, 10)
        present = np.zeros(1 << self._bits, np.bool_)
        present[_bucket(wanted, self._bits)] = True
        self._table = np.packbits(present, bitorder="little")

    def may_hold(self, keys: I64) -> NDArray[np.bool_]:
        bucket = _bucket(keys, self._bits)
        byte = self._table[bucket >> np.uint64(3)]
        bucket &= np.uint64(7)
        byte >>= bucket.astype(np.uint8)
        byte &= np.uint8(1)
        held: NDArray[np.bool_] = byte.view(np.bool_)
        return held


def rows_maybe_in(keys: I64, wanted: I64) -> NDArray[np.intp] | None:
    """Rows whose key may be one of `wanted` (all of those, and a few others), in order.

    A semi-join through a `KeyFilter`. `None` when that would keep most rows anyway (the caller
    then takes every row).
    """
    n = keys.shape[0]
    if n < 2 * wanted.shape[0]:
        return None
    kept = np.flatnonzero(KeyFilter(wanted).may_hold(keys))
    return kept if kept.shape[0] < n * 0.8 else None


def _bucket(keys: I64, bits: int) -> NDArray[np.uint64]:
    hashed = keys.view(np.uint64) * _MIX
    hashed >>= np.uint64(64 - bits)
    return hashed


@dataclass(frozen=True, slots=True)
class GroupTimeOrder:
    order: NDArray[np.intp]  # sorted position -> input row
    keys: I64  # sorted composite keys: group field << shift | (time - time_base)
    group_values: I64  # distinct group keys, ascending (index = group rank)
    group_starts: I64  # first sorted position of each group rank
    shift: int
    time_base: int
    time_end: int  # one past the latest time: a query time at or beyond it sorts after every row
    duplicates: NDArray[np.intp]  # sorted positions equal to their predecessor in every key
    in_input_order: bool = False  # `order` is every row in input order (0, 1, 2, ...)
    # The group field of the keys: the group rank (None) or, when the group keys span few
    # enough bits, the group key less this base (queries then need no rank).
    key_base: int | None = None

    def ranks_of(self, group: I64) -> I64:
        """Group rank of each query key, -1 when no row has that key."""
        if self.group_values.shape[0] == 0:
            return np.full(group.shape[0], -1, np.int64)
        rank = np.minimum(np.searchsorted(self.group_values, group), len(self.group_values) - 1)
        return np.where(self.group_values[rank] == group, rank, -1)

    def first_at_or_after(self, rank: I64, time: I64) -> I64:
        """For each (rank >= 0, time): first sorted position in that group with time >= it."""
        if self.key_base is not None:
            rank = self.group_values[rank] - self.key_base
        part = np.clip(time, self.time_base, self.time_end) - self.time_base
        found: I64 = np.searchsorted(self.keys, (rank << self.shift) | part)
        return found

    def ranges_of(self, group: I64, start: I64, end: I64) -> tuple[I64, I64]:
        """For each query (group key, start, end), the sorted positions [lo, lo + count) of the
        rows of that group with start <= time < end (count 0 when it has no row there).

        Only when `key_base` is set: the queries' keys then need no rank."""
        assert self.key_base is not None
        outside = (group < self.key_base) | (group > self.group_values[-1])
        field = group - self.key_base  # wraps outside the span: those are masked below
        field <<= self.shift
        lo = np.clip(start, self.time_base, self.time_end)
        lo -= self.time_base
        lo |= field
        lo = np.searchsorted(self.keys, lo)
        count = np.clip(end, self.time_base, self.time_end)
        count -= self.time_base
        count |= field
        count = np.searchsorted(self.keys, count)
        count -= lo
        np.maximum(count, 0, out=count)
        count[outside] = 0
        return lo, count


def _group_rows(group: I64) -> tuple[NDArray[np.intp] | None, I64]:
    """Rows grouped by key, ascending, in their input order inside a group: (rows, keys).

    Rows already in key order (a table sorted upstream) are returned as they are (`None`:
    every row, in place). Otherwise one stable sort by the leading bits of the key
    (`attribution.packed_sort`): it keeps each group in input order (a time-ordered stream
    stays so inside each group). Distinct keys that differ only in the dropped low bits may
    end up interleaved in one run; those (rare) runs are then ordered by the full key, stably.
    """
    if _non_decreasing(group):
        return None, group
    rows, leading, dropped = sort_by_leading_bits(group)
    grouped = group[rows]
    if dropped == 0:
        return rows, grouped
    new_leading = leading[1:] != leading[:-1]
    shared = grouped[1:] != grouped[:-1]
    shared &= ~new_leading
    if bool(shared.any()):
        run_starts = np.flatnonzero(new_leading) + 1
        run = np.unique(np.searchsorted(run_starts, np.flatnonzero(shared) + 1, side="right"))
        bounds = np.concatenate([[0], run_starts, [group.shape[0]]])
        at = expand_ranges(bounds[run], bounds[run + 1] - bounds[run], step=1)
        by_key = stable_argsort(grouped[at])
        rows[at], grouped[at] = rows[at][by_key], grouped[at][by_key]
    return rows, grouped


def expand_ranges(value: I64, count: I64, *, step: int) -> I64:
    """`value[j] + step * i` for i in range(count[j]), for every j in turn (one flat array).

    With `step` 0 a `repeat`; otherwise the running sum of an array of `step`s whose first
    entry of each run jumps to the run's value: one allocation.
    """
    if step == 0:
        return np.repeat(value, count).astype(np.int64, copy=False)
    total = int(count.sum())
    out = np.full(total, step, np.int64)
    if total == 0:
        return out
    nonzero = np.flatnonzero(count)
    value, count = value[nonzero], count[nonzero]
    starts = np.cumsum(count)
    starts -= count
    jump = value.copy()
    jump[1:] -= value[:-1] + step * (count[:-1] - 1)
    out[starts] = jump
    np.cumsum(out, out=out)
    return out


def _non_decreasing(values: I64) -> bool:
    return values.shape[0] < 2 or bool((values[1:] >= values[:-1]).all())


def sort_by_group_time(
    group: I64,
    time: I64,
    tiebreak: I64 | Callable[[NDArray[np.intp]], I64],
    advertiser_id: I64 | None = None,
) -> GroupTimeOrder:
    """Order rows by (group, time, tiebreak); checks advertisers match inside groups if given.

    `tiebreak` may be a function giving the tiebreak of some rows: it is only needed for rows
    tied in (group, time), usually few.

    Inside each group rows stay in input order, which for a time-ordered stream is time
    order already: one pass finds the groups that are not, and only those are sorted.
    """
    n = group.shape[0]
    if n == 0:
        empty = np.zeros(0, np.int64)
        none = np.zeros(0, np.intp)
        return GroupTimeOrder(none, empty, empty, empty, 0, 0, 0, none, in_input_order=True)
    first, grouped = _group_rows(group)
    new = np.empty(n, np.bool_)
    new[0] = True
    np.not_equal(grouped[1:], grouped[:-1], out=new[1:])
    if advertiser_id is not None:
        adv = advertiser_id if first is None else advertiser_id[first]
        if bool(((adv[1:] != adv[:-1]) & ~new[1:]).any()):
            raise KeyCollisionError
    starts = np.flatnonzero(new)
    time_base, time_end = int(time.min()), int(time.max()) + 1
    shift = (time_end - time_base + 1).bit_length()
    if len(starts).bit_length() + shift > 63:
        raise InvalidInputError("timestamps span too wide a range to order them in one key")
    key_base: int | None = int(grouped[0])
    if (int(grouped[-1]) - int(grouped[0])).bit_length() + shift <= 63:
        composite = grouped - grouped[0]  # the group key itself, less the smallest
        composite <<= shift
    else:
        key_base = None
        composite = np.zeros(n, np.int64)  # the group rank of each row, shifted
        composite[starts[1:]] = 1 << shift
        np.cumsum(composite, out=composite)  # (a cumsum of int64 is much faster than of bool)
    composite |= (time if first is None else time[first]) - time_base
    order: NDArray[np.intp] = np.arange(n, dtype=np.intp) if first is None else first
    keys = composite
    in_input_order = first is None
    decreasing = keys[1:] < keys[:-1]
    if bool(decreasing.any()):  # only the groups holding rows out of time order are re-sorted
        bad = np.searchsorted(starts, np.flatnonzero(decreasing) + 1, side="right") - 1
        bad = bad[np.concatenate([[True], bad[1:] != bad[:-1]])]  # non-decreasing: unique
        ends = np.append(starts[1:], n)
        at = expand_ranges(starts[bad], ends[bad] - starts[bad], step=1)
        resort = stable_argsort(keys[at])
        in_input_order = False
        order[at], keys[at] = order[at][resort], keys[at][resort]
    ties = keys[1:] == keys[:-1]
    duplicates = np.zeros(0, np.intp)
    if bool(ties.any()):
        in_tie = np.zeros(n, np.bool_)
        in_tie[1:] |= ties
        in_tie[:-1] |= ties
        at = np.flatnonzero(in_tie)
        breaks = tiebreak(order[at]) if callable(tiebreak) else tiebreak[order[at]]
        by_break = np.lexsort((breaks, keys[at]))
        order[at], tied_breaks = order[at][by_break], breaks[by_break]
        in_input_order = False
        same = (keys[at][1:] == keys[at][:-1]) & (tied_breaks[1:] == tied_breaks[:-1])
        duplicates = at[1:][same].astype(np.intp)
    return GroupTimeOrder(
        order=order.astype(np.intp, copy=False),
        keys=keys,
        group_values=grouped[starts],
        group_starts=starts.astype(np.int64, copy=False),
        shift=shift,
        time_base=time_base,
        time_end=time_end,
        duplicates=duplicates,
        in_input_order=in_input_order,
        key_base=key_base,
    )

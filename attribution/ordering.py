"""Grouping rows by journey key and ordering them in time, with one full sort.

A journey key is the pair (advertiser, identity). Both are int64 hashes, so the pair is mixed
into one int64 (`identity ^ advertiser * K`, K odd): for a fixed advertiser this is a bijection
of the identity, hence two different pairs share a key only if their advertisers differ. The
callers check that (one comparison per row) and, in the astronomically rare case it happens,
fall back to exact dense ranks of the pairs (`exact_group_keys`).

`sort_by_group_time` orders rows by (group, time, tiebreak): one `argsort` of the group keys
(the only O(n log n) step on random data), then a stable sort of `rank << shift | time`, which
is almost sorted already (cheap), then a small fix-up of the rare exact ties by `tiebreak`.
The sorted composite keys are kept: `searchsorted` on them finds, for any (group, time), the
first row of that group at or after that time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64
from attribution.errors import InvalidInputError

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


@dataclass(frozen=True, slots=True)
class GroupTimeOrder:
    order: NDArray[np.intp]  # sorted position -> input row
    keys: I64  # sorted composite keys: group rank << shift | (time - time_base)
    group_values: I64  # distinct group keys, ascending (index = group rank)
    group_starts: I64  # first sorted position of each group rank
    shift: int
    time_base: int
    time_end: int  # one past the latest time: a query time at or beyond it sorts after every row
    duplicates: NDArray[np.intp]  # sorted positions equal to their predecessor in every key

    def ranks_of(self, group: I64) -> I64:
        """Group rank of each query key, -1 when no row has that key."""
        if self.group_values.shape[0] == 0:
            return np.full(group.shape[0], -1, np.int64)
        rank = np.minimum(np.searchsorted(self.group_values, group), len(self.group_values) - 1)
        return np.where(self.group_values[rank] == group, rank, -1)

    def first_at_or_after(self, rank: I64, time: I64) -> I64:
        """For each (rank >= 0, time): first sorted position in that group with time >= it."""
        part = np.clip(time, self.time_base, self.time_end) - self.time_base
        return np.searchsorted(self.keys, (rank << self.shift) | part).astype(np.int64)


def _group_rows(group: I64) -> tuple[NDArray[np.int64], I64]:
    """Rows grouped by key (any order inside a group): (rows, their keys).

    Sorting values is cheaper than `argsort`, so the row number is packed into the low bits
    of the key and the packed values are sorted. Distinct keys that share their high bits end
    up interleaved in one run; those (rare) runs are then ordered by the full key.
    """
    n = group.shape[0]
    bits = max(n - 1, 1).bit_length()
    low = (1 << bits) - 1
    packed = (group & ~low) | np.arange(n, dtype=np.int64)
    packed.sort()
    rows = packed & low
    grouped = group[rows]
    high = packed >> bits
    new_high = high[1:] != high[:-1]
    new_key = grouped[1:] != grouped[:-1]
    shared = new_key & ~new_high
    if bool(shared.any()):
        run = np.concatenate([[0], np.cumsum(new_high)])
        at = np.flatnonzero(np.isin(run, run[1:][shared]))
        by_key = np.argsort(grouped[at], kind="stable")
        rows[at], grouped[at] = rows[at][by_key], grouped[at][by_key]
    return rows, grouped


def sort_by_group_time(
    group: I64, time: I64, tiebreak: I64, advertiser_id: I64 | None = None
) -> GroupTimeOrder:
    """Order rows by (group, time, tiebreak); checks advertisers match inside groups if given."""
    n = group.shape[0]
    if n == 0:
        empty = np.zeros(0, np.int64)
        none = np.zeros(0, np.intp)
        return GroupTimeOrder(none, empty, empty, empty, 0, 0, 0, none)
    first, grouped = _group_rows(group)
    new = np.empty(n, np.bool_)
    new[0] = True
    np.not_equal(grouped[1:], grouped[:-1], out=new[1:])
    if advertiser_id is not None:
        adv = advertiser_id[first]
        if bool(((adv[1:] != adv[:-1]) & ~new[1:]).any()):
            raise KeyCollisionError
    rank = np.cumsum(new, dtype=np.int64) - 1
    starts = np.flatnonzero(new).astype(np.int64)
    time_base, time_end = int(time.min()), int(time.max()) + 1
    shift = (time_end - time_base + 1).bit_length()
    if len(starts).bit_length() + shift > 63:
        raise InvalidInputError("timestamps span too wide a range to order them in one key")
    composite = (rank << shift) | (time[first] - time_base)
    second = np.argsort(composite, kind="stable")  # nearly sorted: a cheap merge
    order = first[second]
    keys = composite[second]
    ties = keys[1:] == keys[:-1]
    duplicates = np.zeros(0, np.intp)
    if bool(ties.any()):
        in_tie = np.zeros(n, np.bool_)
        in_tie[1:] |= ties
        in_tie[:-1] |= ties
        at = np.flatnonzero(in_tie)
        order[at] = order[at][np.lexsort((tiebreak[order[at]], keys[at]))]
        tied_breaks = tiebreak[order[at]]
        same = (keys[at][1:] == keys[at][:-1]) & (tied_breaks[1:] == tied_breaks[:-1])
        duplicates = at[1:][same].astype(np.intp)
    return GroupTimeOrder(
        order=order.astype(np.intp, copy=False),
        keys=keys,
        group_values=grouped[starts],
        group_starts=starts,
        shift=shift,
        time_base=time_base,
        time_end=time_end,
        duplicates=duplicates,
    )

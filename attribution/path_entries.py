"""The touches of each conversion's path: candidate ranges against the sorted touches.

`path_entries` puts the touches in journey order -- by key, then (ts, kind, touch_id) -- and
finds, for every conversion (a query row: key, time, previous path-credited conversion),
the range of its key's touches inside the longest lookback window and not before that
previous conversion; each candidate is then checked against its own window, its flags and
exact duplicates (`attribution.journeys` states the rules).

Only the touches whose key may have a conversion are put in order (a bitmap semi-join,
`attribution.ordering.KeyFilter`), unless every touch is asked for (population models).
Large batches are put in order one key range at a time (`attribution.key_ranges`): the
touches of a range, laid out together, are sorted and checked against the conversions of that
range, with arrays that stay in the CPU cache; the ranges, taken in key order, give the same
entries as one sort of every touch. Candidates are checked in chunks of whole rows so that
temporaries stay cache-sized.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I8, I64, U8, Touches
from attribution.key_ranges import PART_ROWS, KeyRanges, split_rows
from attribution.ordering import (
    GroupTimeOrder,
    KeyCollisionError,
    KeyFilter,
    expand_ranges,
    rows_maybe_in,
    sort_by_group_time,
)
from attribution.windows import LookbackWindows


@dataclass(frozen=True, slots=True)
class TouchOrder:
    """Every touch of a batch in journey order: by key, then (ts, kind, touch_id).

    Exact duplicate rows (same key, time, kind and id) are left out, like everywhere else.
    Group g (one journey key) holds `touch_index[group_offsets[g]:group_offsets[g + 1]]`.
    """

    touch_index: NDArray[np.intp]
    group_offsets: I64


@dataclass(frozen=True, slots=True)
class PathEntries:
    """Path entries of every query row, CSR: row j's are `offsets[j]:offsets[j + 1]`."""

    offsets: I64
    row: NDArray[np.intp]
    touch: NDArray[np.intp]
    ts: I64
    kind: I8
    position: NDArray[np.int32]
    length: NDArray[np.int32]


def path_entries(
    touches: Touches,
    t_group: I64,
    windows: LookbackWindows,
    exclude_already_credited: bool,
    check: bool,
    *,
    q_key: I64,
    q_adv: I64,
    q_ts: I64,
    q_prev: I64,
    q_wanted: NDArray[np.bool_],
    every_touch: bool,
    part_rows: int | None = None,
) -> tuple[PathEntries, TouchOrder | None]:
    """Path entries of every wanted query row (a conversion), against the sorted touches.

    Query rows come in (key, time) order. Only the touches whose key may have a wanted query
    are sorted (a bitmap semi-join), unless `every_touch` asks for all of them in journey order.
    More than `part_rows` touches (default `PART_ROWS`) are sorted one key range at a time
    (`attribution.key_ranges`).
    """
    part_rows = PART_ROWS if part_rows is None else part_rows
    n_rows = q_key.shape[0]
    wanted = np.flatnonzero(q_wanted)
    queries = _Queries(wanted, q_key, q_adv, q_ts, q_prev, windows, exclude_already_credited)
    checker = _Candidates(windows, queries)
    n_touches = t_group.shape[0]
    found: list[_Found] = []
    orders: list[TouchOrder] | None = [] if every_touch else None
    if wanted.shape[0] == 0 and not every_touch:
        pass  # nothing to credit: no need to sort
    elif n_touches <= part_rows:
        kept = None if every_touch else rows_maybe_in(t_group, queries.key)
        columns = _TouchColumns.of(touches, t_group, windows, check, lambda f: f(kept), kept)
        found.append(checker.part(columns, 0, wanted.shape[0], orders))
    else:
        # The key span of the queries (keys ascending), and of every touch if all are asked for.
        bounds = [int(queries.key[0]), int(queries.key[-1])] if wanted.shape[0] else []
        if every_touch:
            bounds += [int(t_group.min()), int(t_group.max())]
        ranges = KeyRanges.covering(min(bounds), max(bounds), n_touches, part_rows)
        parts = split_rows(t_group, ranges, None if every_touch else KeyFilter(queries.key))
        columns = _TouchColumns.of(touches, t_group, windows, check, parts.column, parts.rows)
        q_bounds = np.searchsorted(ranges.parts_of(queries.key), np.arange(ranges.count + 1))
        for p in range(ranges.count):
            a, b = int(q_bounds[p]), int(q_bounds[p + 1])
            if a < b or every_touch:
                found.append(checker.part(columns.part(parts.slice(p)), a, b, orders))
    cand_row = _joined([f[0] for f in found], np.int64)
    offsets = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(cand_row, minlength=n_rows), out=offsets[1:])
    entries = PathEntries(
        offsets=offsets,
        row=cand_row.astype(np.intp, copy=False),
        touch=_joined([f[1] for f in found], np.intp),
        ts=_joined([f[2] for f in found], np.int64),
        kind=_joined([f[3] for f in found], np.bool_).view(np.int8),
        position=_joined([f[4] for f in found], np.int32),
        length=_joined([f[5] for f in found], np.int32),
    )
    return entries, None if orders is None else _joined_orders(orders)


_CHUNK = 1 << 17
_T = TypeVar("_T", bound=np.generic)
_Eligible = tuple[I64, NDArray[np.intp], I64, NDArray[np.bool_]]  # (row, touch, ts, is_click)
# ... and the position of each entry in its path and that path's length
_Found = tuple[I64, NDArray[np.intp], I64, NDArray[np.bool_], NDArray[np.int32], NDArray[np.int32]]


def _joined(parts: list[NDArray[_T]], dtype: type[_T]) -> NDArray[_T]:
    if not parts:
        return np.zeros(0, dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _joined_orders(orders: list[TouchOrder]) -> TouchOrder:
    if len(orders) == 1:
        return orders[0]
    sizes = [o.touch_index.shape[0] for o in orders]
    bases = np.cumsum([0, *sizes])
    offsets = [o.group_offsets[:-1] + base for o, base in zip(orders, bases.tolist(), strict=False)]
    return TouchOrder(
        _joined([o.touch_index for o in orders], np.intp),
        np.concatenate([*offsets, bases[-1:]]).astype(np.int64),
    )


class _Queries:
    """The wanted query rows, in (key, time) order, and the time span each may take touches from."""

    def __init__(
        self,
        wanted: NDArray[np.intp],
        q_key: I64,
        q_adv: I64,
        q_ts: I64,
        q_prev: I64,
        windows: LookbackWindows,
        exclude_already_credited: bool,
    ) -> None:
        self.rows = wanted
        self.key = q_key[wanted]
        self.adv, self.ts = q_adv, q_ts  # per query row (all rows)
        self.end_ts = q_ts[wanted]
        self.start_ts = self.end_ts - windows.longest_ms
        if exclude_already_credited:  # q_prev: NO_TIME when none earlier
            np.maximum(self.start_ts, q_prev[wanted], out=self.start_ts)


class _TouchColumns:
    """The touch columns the journeys need, of some touches (`rows`; None: every touch).

    Columns needed for a few touches only (ties, candidates) are read from `touches` itself.
    """

    __slots__ = ("adv", "flags", "group", "rows", "touches", "tsk", "window")

    def __init__(
        self,
        touches: Touches,
        rows: NDArray[np.intp] | None,
        group: I64,
        tsk: I64,
        flags: U8,
        adv: I64 | None,
        window: I64 | None,
    ) -> None:
        self.touches = touches
        self.rows = rows  # input row of each touch (None: touch i is input row i)
        self.group, self.tsk = group, tsk  # tsk: ts * 2 + kind
        self.flags = flags
        self.adv = adv  # when keys may collide: checked against each candidate's conversion
        self.window = window  # when windows have overrides

    @classmethod
    def of(
        cls,
        touches: Touches,
        t_group: I64,
        windows: LookbackWindows,
        check: bool,
        select: Callable[[Callable[[_Rows], NDArray[Any]]], NDArray[Any]],
        rows: NDArray[np.intp] | None,
    ) -> _TouchColumns:
        """The columns of the touches `rows` (None: all), each made by `select`: it calls a
        function of some rows (None: all) and lays out what it returns."""

        def tsk(at: _Rows) -> I64:
            doubled = _at(touches.ts_ms, at) * 2
            doubled += _at(touches.kind, at)
            return doubled

        def window(at: _Rows) -> I64:
            t = touches
            return windows.for_touches(
                _at(t.kind, at), _at(t.advertiser_id, at), _at(t.partner_id, at)
            )

        return cls(
            touches,
            rows,
            select(lambda at: _at(t_group, at)),
            select(tsk),
            select(lambda at: _at(touches.flags, at)),
            select(lambda at: _at(touches.advertiser_id, at)) if check else None,
            select(window) if windows.overrides else None,
        )

    def part(self, at: slice) -> _TouchColumns:
        def cut(values: NDArray[_T] | None) -> NDArray[_T] | None:
            return None if values is None else values[at]

        rows = self.rows
        assert rows is not None
        return _TouchColumns(
            self.touches, rows[at], self.group[at], self.tsk[at], self.flags[at], cut(self.adv),
            cut(self.window),
        )  # fmt: skip

    def tiebreak(self, at: NDArray[np.intp]) -> I64:
        """The touch id of some of these touches."""
        return self.touches.touch_id[at if self.rows is None else self.rows[at]]


class _Candidates:
    """The touches in each query's candidate range that are eligible for it, part by part."""

    def __init__(self, windows: LookbackWindows, queries: _Queries) -> None:
        self.windows, self.queries = windows, queries

    def part(
        self, columns: _TouchColumns, a: int, b: int, orders: list[TouchOrder] | None
    ) -> _Found:
        """Entries of the wanted queries `a:b` against the touches of `columns` (all the touches
        of their keys); with `orders`, also appends those touches in journey order to it."""
        t_order = sort_by_group_time(columns.group, columns.tsk, columns.tiebreak)
        local = t_order.order
        order = local if columns.rows is None else columns.rows[local]
        if orders is not None:
            orders.append(_touch_order(t_order, order))
        q = self.queries
        if t_order.key_base is not None:  # no rank needed
            found = q.rows[a:b]
            lo, count = t_order.ranges_of(q.key[a:b], q.start_ts[a:b] * 2, q.end_ts[a:b] * 2)
        else:
            rank = t_order.ranks_of(q.key[a:b])
            has = np.flatnonzero(rank >= 0)
            found, rank = q.rows[a:b][has], rank[has]
            # Queries come in (key, time) order: searching only the keys that have touches
            # keeps them sorted, which `searchsorted` is several times faster on.
            lo = t_order.first_at_or_after(rank, q.start_ts[a:b][has] * 2)
            count = t_order.first_at_or_after(rank, q.end_ts[a:b][has] * 2)
            count -= lo
            np.maximum(count, 0, out=count)
        sorted_touches = _SortedTouches(columns, t_order, order, self.windows, q)
        # Every row's candidate range [lo, lo + count) is checked in chunks of whole rows of
        # about _CHUNK candidates: the temporaries stay small (cache-sized, reused).
        total = int(count.sum())
        if total <= _CHUNK:
            return _with_positions(sorted_touches.eligible(found, lo, count))
        ends = np.searchsorted(np.cumsum(count), np.arange(_CHUNK, total, _CHUNK)) + 1
        bounds = np.unique(np.concatenate([[0], ends, [found.shape[0]]])).tolist()
        chunks = [
            sorted_touches.eligible(found[i:j], lo[i:j], count[i:j])
            for i, j in itertools.pairwise(bounds)
        ]
        return _with_positions(
            (
                _joined([c[0] for c in chunks], np.int64),
                _joined([c[1] for c in chunks], np.intp),
                _joined([c[2] for c in chunks], np.int64),
                _joined([c[3] for c in chunks], np.bool_),
            )
        )


def _with_positions(entries: _Eligible) -> _Found:
    """`entries` (rows non-decreasing, each row's entries all there) with each entry's position
    in its row's path and that path's length."""
    row = entries[0]
    n = row.shape[0]
    starts = np.flatnonzero(row[1:] != row[:-1])
    starts += 1
    starts = np.concatenate([np.zeros(1, np.intp), starts]) if n else starts
    lengths = np.diff(starts, append=n).astype(np.int32)
    position = np.arange(n, dtype=np.int32)
    position -= np.repeat(starts.astype(np.int32), lengths)
    return (*entries, position, np.repeat(lengths, lengths))


class _SortedTouches:
    """The columns the eligibility checks need, of one part's touches in journey order."""

    def __init__(
        self,
        columns: _TouchColumns,
        t_order: GroupTimeOrder,
        order: NDArray[np.intp],
        windows: LookbackWindows,
        queries: _Queries,
    ) -> None:
        local = None if t_order.in_input_order else t_order.order
        self.t_order, self.windows = t_order, windows
        # None: touch i of the part is input row i
        self.order = None if local is None and columns.rows is None else order
        self.q_adv, self.q_ts = queries.adv, queries.ts
        self.flags = _at(columns.flags, local)
        self.adv = None if columns.adv is None else _at(columns.adv, local)
        self.window = None if columns.window is None else _at(columns.window, local)
        self.duplicate: NDArray[np.bool_] | None = None
        if t_order.duplicates.shape[0]:
            self.duplicate = np.zeros(t_order.order.shape[0], np.bool_)
            self.duplicate[t_order.duplicates] = True

    def eligible(self, found: NDArray[np.intp], lo: I64, count: I64) -> _Eligible:
        """(row, touch, ts, is_click) of the eligible candidates, rows `found` in order."""
        t_order, windows = self.t_order, self.windows
        cand_row = expand_ranges(found, count, step=0)
        pos = expand_ranges(lo, count, step=1)
        cand_tsk = t_order.keys[pos]
        cand_tsk &= (1 << t_order.shift) - 1
        cand_tsk += t_order.time_base
        is_click = (cand_tsk & 1).astype(np.bool_)
        cand_ts = cand_tsk
        cand_ts >>= 1
        if self.window is not None:
            cand_window = self.window[pos]
        else:
            cand_window = np.where(is_click, windows.click_ms, windows.impression_ms)
        age = self.q_ts[cand_row]
        age -= cand_ts
        ok = age <= cand_window
        ok &= self.flags[pos] == 0
        if self.duplicate is not None:
            ok &= ~self.duplicate[pos]
        cand_touch = pos if self.order is None else self.order[pos]
        if self.adv is not None and bool((self.adv[pos] != self.q_adv[cand_row]).any()):
            raise KeyCollisionError  # two (advertiser, identity) pairs share a mixed key
        if bool(ok.all()):
            return cand_row, cand_touch, cand_ts, is_click
        keep = np.flatnonzero(ok)
        return cand_row[keep], cand_touch[keep], cand_ts[keep], is_click[keep]


_Rows = NDArray[np.intp] | None  # some input rows (None: every row)


def _at(values: NDArray[_T], rows: _Rows) -> NDArray[_T]:
    return values if rows is None else values[rows]


def _touch_order(t_order: GroupTimeOrder, order: NDArray[np.intp]) -> TouchOrder:
    """The touches of `t_order` (input rows `order`, in journey order), duplicates left out."""
    starts = t_order.group_starts
    n = t_order.order.shape[0]
    offsets = np.empty(starts.shape[0] + 1, np.int64)
    offsets[:-1] = starts
    offsets[-1] = n
    duplicates = t_order.duplicates
    if duplicates.shape[0] == 0:
        return TouchOrder(order, offsets)
    keep = np.ones(n, np.bool_)
    keep[duplicates] = False  # never a group's first row
    offsets -= np.searchsorted(duplicates, offsets)  # duplicates before each group start
    return TouchOrder(np.compress(keep, order), offsets)

"""The touches of each conversion's path: candidate ranges against the sorted touches.

`path_entries` puts the touches in journey order -- by key, then (ts, kind, touch_id) -- and
finds, for every conversion (a query row: key, time, previous path-credited conversion),
the range of its key's touches inside the longest lookback window and not before that
previous conversion; each candidate is then checked against its own window, its flags and
exact duplicates (`attribution.journeys` states the rules).

Only the touches whose key may have a conversion are put in order (a bitmap semi-join,
`attribution.ordering.rows_maybe_in`), unless every touch is asked for (population models);
candidates are checked in chunks of whole rows so that temporaries stay cache-sized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I8, I64, Touches
from attribution.ordering import (
    GroupTimeOrder,
    KeyCollisionError,
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
) -> tuple[PathEntries, TouchOrder | None]:
    """Path entries of every wanted query row (a conversion), against the sorted touches.

    Only the touches whose key may have a wanted query are sorted (a bitmap semi-join),
    unless `every_touch` asks for all of them in journey order.
    """
    n_rows = q_key.shape[0]
    wanted = np.flatnonzero(q_wanted)
    kept: NDArray[np.intp] | None = None  # None: every touch
    if wanted.shape[0] == 0 and not every_touch:
        kept = np.zeros(0, np.intp)  # nothing to credit: no need to sort
    elif not every_touch:
        kept = rows_maybe_in(t_group, q_key[wanted])
    if kept is None:
        group, ts, kind, tie = t_group, touches.ts_ms, touches.kind, touches.touch_id
    else:
        group, ts, kind = t_group[kept], touches.ts_ms[kept], touches.kind[kept]
        tie = touches.touch_id[kept]
    tsk = ts * 2
    tsk += kind
    t_order = sort_by_group_time(group, tsk, tie)
    order = t_order.order if kept is None else kept[t_order.order]
    touch_order = _touch_order(t_order) if every_touch else None

    rank = t_order.ranks_of(q_key[wanted])
    has = rank >= 0
    found, rank = np.compress(has, wanted), np.compress(has, rank)
    end_ts = q_ts[found]
    start_ts = end_ts - windows.longest_ms
    if exclude_already_credited:
        np.maximum(start_ts, q_prev[found], out=start_ts)  # q_prev: NO_TIME when none earlier
    # Queries come in (key, time) order: searching only the keys that have touches keeps them
    # sorted, which `searchsorted` is several times faster on.
    lo = t_order.first_at_or_after(rank, start_ts * 2)
    count = t_order.first_at_or_after(rank, end_ts * 2)
    count -= lo
    np.maximum(count, 0, out=count)

    # Every row's candidate range [lo, lo + count) is checked in chunks of whole rows of about
    # _CHUNK candidates: the temporaries stay small (cache-sized, reused by the allocator).
    checker = _Candidates(touches, windows, t_order, order, check, q_adv, q_ts)
    ends = np.searchsorted(np.cumsum(count), np.arange(_CHUNK, int(count.sum()), _CHUNK)) + 1
    bounds = np.unique(np.concatenate([[0], ends, [found.shape[0]]]))
    chunks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)) or [(0, 0)]
    parts = [checker.eligible(found[a:b], lo[a:b], count[a:b]) for a, b in chunks]
    cand_row, cand_touch = _joined([p[0] for p in parts]), _joined([p[1] for p in parts])
    cand_ts, is_click = _joined([p[2] for p in parts]), _joined([p[3] for p in parts])
    path_len = np.bincount(cand_row, minlength=n_rows)
    offsets = np.zeros(n_rows + 1, np.int64)
    np.cumsum(path_len, out=offsets[1:])
    position = np.arange(cand_row.shape[0], dtype=np.int64)
    position -= offsets[cand_row]
    entries = PathEntries(
        offsets=offsets,
        row=cand_row.astype(np.intp, copy=False),
        touch=cand_touch.astype(np.intp, copy=False),
        ts=cand_ts,
        kind=is_click.view(np.int8),
        position=position.astype(np.int32),
        length=path_len.astype(np.int32)[cand_row],
    )
    return entries, touch_order


_CHUNK = 1 << 17
_T = TypeVar("_T", bound=np.generic)


def _joined(parts: list[NDArray[_T]]) -> NDArray[_T]:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class _Candidates:
    """The touches in each query's candidate range that are eligible for it."""

    def __init__(
        self,
        touches: Touches,
        windows: LookbackWindows,
        t_order: GroupTimeOrder,
        order: NDArray[np.intp],
        check: bool,
        q_adv: I64,
        q_ts: I64,
    ) -> None:
        self.touches, self.t_order, self.order, self.check = touches, t_order, order, check
        self.q_adv, self.q_ts = q_adv, q_ts
        self.windows = windows
        self.window: I64 | None = None
        if windows.overrides:
            self.window = windows.for_touches(
                touches.kind, touches.advertiser_id, touches.partner_id
            )
        self.duplicate: NDArray[np.bool_] | None = None
        if t_order.duplicates.shape[0]:
            self.duplicate = np.zeros(t_order.order.shape[0], np.bool_)
            self.duplicate[t_order.duplicates] = True

    def eligible(
        self, found: NDArray[np.intp], lo: I64, count: I64
    ) -> tuple[I64, I64, I64, NDArray[np.bool_]]:
        """(row, touch, ts, is_click) of the eligible candidates, rows `found` in order."""
        t_order, touches, windows = self.t_order, self.touches, self.windows
        cand_row = expand_ranges(found, count, step=0)
        pos = expand_ranges(lo, count, step=1)
        cand_tsk = t_order.keys[pos]
        cand_tsk &= (1 << t_order.shift) - 1
        cand_tsk += t_order.time_base
        cand_touch = self.order[pos]
        if self.check and bool((touches.advertiser_id[cand_touch] != self.q_adv[cand_row]).any()):
            raise KeyCollisionError  # two (advertiser, identity) pairs share a mixed key
        is_click = (cand_tsk & 1).astype(np.bool_)
        cand_ts = cand_tsk
        cand_ts >>= 1
        if self.window is not None:
            cand_window = self.window[cand_touch]
        else:
            cand_window = np.where(is_click, windows.click_ms, windows.impression_ms)
        age = self.q_ts[cand_row]
        age -= cand_ts
        ok = age <= cand_window
        ok &= touches.flags[cand_touch] == 0
        if self.duplicate is not None:
            ok &= ~self.duplicate[pos]
        if bool(ok.all()):
            return cand_row, cand_touch, cand_ts, is_click
        keep = np.flatnonzero(ok)
        return cand_row[keep], cand_touch[keep], cand_ts[keep], is_click[keep]


def _touch_order(t_order: GroupTimeOrder) -> TouchOrder:
    starts = t_order.group_starts
    n = t_order.order.shape[0]
    offsets = np.empty(starts.shape[0] + 1, np.int64)
    offsets[:-1] = starts
    offsets[-1] = n
    duplicates = t_order.duplicates
    if duplicates.shape[0] == 0:
        return TouchOrder(t_order.order, offsets)
    keep = np.ones(n, np.bool_)
    keep[duplicates] = False  # never a group's first row
    offsets -= np.searchsorted(duplicates, offsets)  # duplicates before each group start
    return TouchOrder(np.compress(keep, t_order.order), offsets)

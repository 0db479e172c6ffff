"""Journeys: for each conversion, the eligible touches before it (CSR arrays, no loop per row).

Rules (the reference implementation in `attribution.reference` spells them out one by one):

- A journey key is (advertiser, identity): touches and conversions of the same linked identity
  (visitor, device or customer) for the same advertiser.
- Order: touches by (ts, kind, touch_id) -- at the same millisecond an impression comes before
  a click, so the click is the later (closer) touch; conversions by (ts, conversion_id).
- A touch is eligible for a conversion when it is strictly before it, inside the lookback
  window of its kind (`attribution.windows`), not flagged bot or fraud, and -- with
  `exclude_already_credited` -- did not lead to an earlier conversion of the same key.
- Installs (`event_name == install_event`) are journeys too (credited to one touch, see
  `attribution.installs`). A non-install conversion within `post_install_ms` after the latest
  install of its key (inclusive, that install ordered before it) is INHERITED: it gets no
  path of its own, takes the install's credit and does not consume touches.

"Already credited" is computed without a set of consumed touches: a touch that is eligible now
and strictly before the previous path-credited conversion of the key was eligible for that
one too (the windows depend on the touch only and that conversion is closer in time), so it is
in its path, or in an earlier one. So the eligible touches are exactly those inside the window
and at or after the previous path-credited conversion. Exact duplicate rows (same key, time
and id) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I8, I64, Conversions, Touches
from attribution.errors import InvalidInputError
from attribution.marks import ConversionMarks
from attribution.ordering import (
    KeyCollisionError,
    exact_group_keys,
    expand_ranges,
    mix_group_keys,
    sort_by_group_time,
)
from attribution.path_entries import TouchOrder, path_entries
from attribution.windows import LookbackWindows

NO_TIME = np.iinfo(np.int64).min
MAX_TS_MS = 1 << 60


class ConversionStatus(IntEnum):
    JOURNEY = 0  # credited through its own path
    INSTALL = 1  # credited to one touch of its path
    INHERITED = 2  # inside an install's post-install window: takes the install's credit


@dataclass(frozen=True, slots=True)
class JourneyRules:
    windows: LookbackWindows
    exclude_already_credited: bool
    post_install_ms: int
    install_event: int


@dataclass(frozen=True, slots=True)
class Journeys:
    """One row per new (non-duplicate) conversion, in (key, ts, conversion_id) order.

    Row j's path is entries `path_offsets[j]:path_offsets[j + 1]`, oldest first.
    """

    conversion_index: NDArray[np.intp]  # row -> input conversion
    status: I8  # ConversionStatus
    inherited_row: NDArray[np.intp]  # INHERITED from a new install: its row, else -1
    inherited_mark: NDArray[np.intp]  # INHERITED from an earlier batch's install: its mark, else -1
    prev_journey_ts: I64  # previous path-credited conversion of the key (NO_TIME: none)
    path_offsets: I64  # rows + 1
    entry_row: NDArray[np.intp]  # per path entry
    touch_index: NDArray[np.intp]  # per path entry: input touch
    entry_ts: I64
    entry_kind: I8
    position: NDArray[np.int32]  # 0-based, in the path
    length: NDArray[np.int32]  # path length, repeated per entry

    def __len__(self) -> int:
        return int(self.conversion_index.shape[0])

    @property
    def path_length(self) -> NDArray[np.int64]:
        return np.diff(self.path_offsets)

    def entries_of(self, rows: NDArray[np.intp]) -> NDArray[np.intp]:
        """The path entries of `rows` (increasing), in order."""
        start = self.path_offsets[rows]
        return expand_ranges(start, self.path_offsets[rows + 1] - start, step=1)


_DTYPES = {"kind": np.int8, "flags": np.uint8, "position": np.int32, "path_length": np.int32}


def check_columns(table: Touches | Conversions | ConversionMarks) -> None:
    """Columns are 1-D arrays of the declared dtypes (int64 unless said otherwise)."""
    for f in fields(table):
        column = getattr(table, f.name)
        expected = (
            np.bool_ if f.name in ("is_install", "inherited") else _DTYPES.get(f.name, np.int64)
        )
        if not isinstance(column, np.ndarray) or column.ndim != 1 or column.dtype != expected:
            got = getattr(column, "dtype", type(column).__name__)
            name = f"{type(table).__name__}.{f.name}"
            raise InvalidInputError(f"{name} must be a 1-D {np.dtype(expected)} array, got {got}")


def check_times(ts_ms: I64, what: str) -> None:
    if ts_ms.shape[0] and (int(ts_ms.min()) < 0 or int(ts_ms.max()) >= MAX_TS_MS):
        raise InvalidInputError(f"{what} ts_ms must be epoch milliseconds in [0, 2**60)")


def build_journeys(
    touches: Touches, conversions: Conversions, rules: JourneyRules, prior: ConversionMarks
) -> Journeys:
    return _checked_build(touches, conversions, rules, prior, every_touch=False)[0]


def build_journeys_in_order(
    touches: Touches, conversions: Conversions, rules: JourneyRules, prior: ConversionMarks
) -> tuple[Journeys, TouchOrder]:
    """`build_journeys`, also returning every touch in journey order (population models)."""
    journeys, order = _checked_build(touches, conversions, rules, prior, every_touch=True)
    assert order is not None
    return journeys, order


def _checked_build(
    touches: Touches,
    conversions: Conversions,
    rules: JourneyRules,
    prior: ConversionMarks,
    *,
    every_touch: bool,
) -> tuple[Journeys, TouchOrder | None]:
    for table in (touches, conversions, prior):
        check_columns(table)
    check_times(touches.ts_ms, "touch")
    check_times(conversions.ts_ms, "conversion")
    try:
        return _build(touches, conversions, rules, prior, exact=False, every_touch=every_touch)
    except KeyCollisionError:
        return _build(touches, conversions, rules, prior, exact=True, every_touch=every_touch)


def _one_advertiser(advertiser_ids: list[I64]) -> bool:
    present = [a for a in advertiser_ids if a.shape[0]]
    if not present:
        return True
    low = min(int(a.min()) for a in present)
    return all(int(a.max()) == low for a in present)


def _build(
    touches: Touches,
    conversions: Conversions,
    rules: JourneyRules,
    prior: ConversionMarks,
    *,
    exact: bool,
    every_touch: bool,
) -> tuple[Journeys, TouchOrder | None]:
    advs = [touches.advertiser_id, conversions.advertiser_id, prior.advertiser_id]
    idents = [touches.identity, conversions.identity, prior.identity]
    check = False
    if _one_advertiser(advs):
        # One advertiser: the identity is the key (exact; a table sorted by identity stays so).
        t_group, c_group, m_group = idents
    elif exact:
        t_group, c_group, m_group = exact_group_keys(advs, idents)
    else:
        t_group, c_group, m_group = (
            mix_group_keys(a, i) for a, i in zip(advs, idents, strict=True)
        )
        check = True

    # Conversions of this batch (not replays of earlier ones) and the earlier marks, together.
    n_new = len(conversions)
    if len(prior):
        fresh = np.flatnonzero(~np.isin(conversions.conversion_id, prior.conversion_id))
        n_new = fresh.shape[0]
        cid = np.concatenate([conversions.conversion_id[fresh], prior.conversion_id])
        c_ts = np.concatenate([conversions.ts_ms[fresh], prior.ts_ms])
        c_adv = np.concatenate([conversions.advertiser_id[fresh], prior.advertiser_id])
        c_key = np.concatenate([c_group[fresh], m_group])
        install = np.concatenate(
            [conversions.event_name[fresh] == rules.install_event, prior.is_install]
        )
        was_inherited = np.concatenate([np.zeros(n_new, np.bool_), prior.inherited])
    else:
        fresh = np.arange(n_new, dtype=np.intp)
        cid, c_ts, c_adv, c_key = (
            conversions.conversion_id, conversions.ts_ms, conversions.advertiser_id, c_group
        )  # fmt: skip
        install = conversions.event_name == rules.install_event
        was_inherited = np.zeros(n_new, np.bool_)
    c_order = sort_by_group_time(c_key, c_ts, cid, c_adv if check else None)
    o = c_order.order
    k = o.shape[0]
    alive = np.ones(k, np.bool_)
    alive[c_order.duplicates] = False
    ts, inst, is_new = c_ts[o], install[o] & alive, (o < n_new) & alive

    # Forward fills along the sorted conversions, reset at each key.
    idx = np.arange(k)
    group_start = np.zeros(k, np.bool_)
    group_start[c_order.group_starts] = True
    start = np.maximum.accumulate(np.where(group_start, idx, 0))
    last_install = np.maximum.accumulate(np.where(inst, idx, -1))
    has_install = ~inst & (last_install >= start) & is_new
    inherited = has_install & (ts - ts[np.maximum(last_install, 0)] <= rules.post_install_ms)
    journey = ~(inherited | was_inherited[o]) & alive
    last_journey = np.maximum.accumulate(np.where(journey, idx, -1))
    prev = np.concatenate([[-1], last_journey[:-1]]) if k else last_journey
    prev_ts = np.where(prev >= start, ts[np.maximum(prev, 0)], NO_TIME)

    rows = np.flatnonzero(is_new)
    row_of_sorted = np.full(k, -1, np.intp)
    row_of_sorted[rows] = np.arange(rows.shape[0])
    src = last_install[rows]
    from_install = inherited[rows]
    inherited_row = np.where(from_install, row_of_sorted[np.maximum(src, 0)], -1)
    mark_of = np.where(from_install & (o[np.maximum(src, 0)] >= n_new), o[np.maximum(src, 0)], -1)
    inherited_mark = np.where(mark_of >= 0, mark_of - n_new, -1).astype(np.intp)
    status = np.where(inst[rows], ConversionStatus.INSTALL, ConversionStatus.JOURNEY)
    status = np.where(from_install, ConversionStatus.INHERITED, status).astype(np.int8)
    o_rows = o[rows]
    conversion_index = fresh[o_rows].astype(np.intp)

    p, touch_order = path_entries(
        touches, t_group, rules.windows, rules.exclude_already_credited, check,
        q_key=c_key[o_rows], q_adv=c_adv[o_rows], q_ts=ts[rows],
        q_prev=prev_ts[rows], q_wanted=~from_install, every_touch=every_touch,
    )  # fmt: skip
    journeys = Journeys(
        conversion_index=conversion_index,
        status=status,
        inherited_row=inherited_row.astype(np.intp),
        inherited_mark=inherited_mark,
        prev_journey_ts=prev_ts[rows],
        path_offsets=p.offsets,
        entry_row=p.row,
        touch_index=p.touch,
        entry_ts=p.ts,
        entry_kind=p.kind,
        position=p.position,
        length=p.length,
    )
    return journeys, touch_order

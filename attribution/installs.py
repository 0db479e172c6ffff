"""Installs (CPI, CPI+): one winning touch per install, inherited by the events that follow.

An install is credited to a single touch of its path (weight 1, role SOLE, whatever the
model): the click named by the install's click id (`Conversions.click_id`, e.g. from the
install referrer) if that click is eligible; else the last eligible click of the device;
else the last eligible impression (a view-through install). An install with no eligible
touch is organic.

Post-install events (non-install conversions of the same key within `post_install_ms` of the
latest install, see `attribution.journeys`) are not re-attributed: they inherit the install's
winning touch (partner, campaign), with their own revenue; after an organic install they are
organic too.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64, TouchKind
from attribution.journeys import ConversionStatus, Journeys
from attribution.marks import ConversionMarks

_POSITION_BITS = 32


def install_winners(paths: Journeys, row_click_id: I64, touch_id: I64) -> NDArray[np.intp]:
    """Per row: the path entry an install is credited to (-1: organic, or not an install)."""
    winner = np.full(len(paths), -1, np.intp)
    length = paths.path_length
    rows = np.flatnonzero((paths.status == ConversionStatus.INSTALL) & (length > 0))
    if rows.shape[0] == 0:
        return winner
    entries = paths.entries_of(rows)
    is_click = paths.entry_kind[entries] == TouchKind.CLICK
    named = row_click_id[paths.entry_row[entries]]
    matched = is_click & (named != 0) & (touch_id[paths.touch_index[entries]] == named)
    priority = matched.astype(np.int64) * 2 + is_click
    score = (priority << _POSITION_BITS) | paths.position[entries].astype(np.int64)
    starts = np.cumsum(length[rows]) - length[rows]
    best = np.maximum.reduceat(score, starts)
    winner[rows] = paths.path_offsets[rows] + (best & ((1 << _POSITION_BITS) - 1))
    return winner


def inherited_touches(
    paths: Journeys,
    winner: NDArray[np.intp],
    touch_id: I64,
    partner_id: I64,
    prior: ConversionMarks,
) -> tuple[I64, I64]:
    """Per row: (touch_id, partner_id) an INHERITED row takes from its install (0, 0: none)."""
    got_touch = np.zeros(len(paths), np.int64)
    got_partner = np.zeros(len(paths), np.int64)
    from_new = np.flatnonzero(paths.inherited_row >= 0)
    entry = winner[paths.inherited_row[from_new]]
    credited = entry >= 0
    at, entry = from_new[credited], entry[credited]
    got_touch[at] = touch_id[paths.touch_index[entry]]
    got_partner[at] = partner_id[paths.touch_index[entry]]
    from_old = np.flatnonzero(paths.inherited_mark >= 0)
    got_touch[from_old] = prior.winner_touch_id[paths.inherited_mark[from_old]]
    got_partner[from_old] = prior.winner_partner_id[paths.inherited_mark[from_old]]
    return got_touch, got_partner

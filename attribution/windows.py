"""Lookback windows: how old a touch may be, by kind, when its conversion happens.

A touch is inside the window of a conversion when `0 < conversion.ts - touch.ts <= window`
(strictly before, boundary included). Defaults: clicks 30 days, impressions 24 hours.

Contracts may override them per advertiser (`partner_id=0`: every partner of the advertiser)
or per advertiser and partner. The window of a touch is resolved from the touch itself (its
kind, advertiser and partner), most specific first: (advertiser, partner) override, then
advertiser override, then default; an override that leaves a kind as `None` falls through to
the next level for that kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I8, I64, TouchKind
from attribution.errors import ConfigError

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class WindowOverride:
    advertiser_id: int
    partner_id: int = 0  # 0: every partner of the advertiser
    click_ms: int | None = None
    impression_ms: int | None = None


@dataclass(frozen=True, slots=True)
class LookbackWindows:
    click_ms: int = 30 * DAY_MS
    impression_ms: int = 24 * HOUR_MS
    overrides: tuple[WindowOverride, ...] = ()

    def __post_init__(self) -> None:
        values = [self.click_ms, self.impression_ms]
        for o in self.overrides:
            values += [v for v in (o.click_ms, o.impression_ms) if v is not None]
        if any(v < 0 for v in values):
            raise ConfigError(f"lookback windows must be >= 0 ms, got {values}")
        keys = [(o.advertiser_id, o.partner_id) for o in self.overrides]
        if len(set(keys)) != len(keys):
            raise ConfigError("two window overrides for the same advertiser and partner")

    @property
    def longest_ms(self) -> int:
        """The longest window of any kind and override: nothing older can be credited."""
        values = [self.click_ms, self.impression_ms]
        for o in self.overrides:
            values += [v for v in (o.click_ms, o.impression_ms) if v is not None]
        return max(values)

    def window_ms(self, kind: int, advertiser_id: int, partner_id: int) -> int:
        """The window of one touch (scalar; the reference implementation uses it)."""
        levels = {(o.advertiser_id, o.partner_id): o for o in self.overrides}
        for key in ((advertiser_id, partner_id), (advertiser_id, 0)):
            o = levels.get(key)
            if o is None:
                continue
            value = o.click_ms if kind == TouchKind.CLICK else o.impression_ms
            if value is not None:
                return value
        return self.click_ms if kind == TouchKind.CLICK else self.impression_ms

    def for_touches(self, kind: I8, advertiser_id: I64, partner_id: I64) -> I64:
        """The window of every touch, as one column."""
        is_click = kind == TouchKind.CLICK
        window = np.where(is_click, np.int64(self.click_ms), np.int64(self.impression_ms))
        if not self.overrides:
            return window
        broad = [o for o in self.overrides if o.partner_id == 0]
        narrow = [o for o in self.overrides if o.partner_id != 0]
        for level in (broad, narrow):  # the narrower level is applied last and wins
            if not level:
                continue
            hit, row = _lookup(level, advertiser_id, partner_id if level is narrow else None)
            clicks = np.array([-1 if o.click_ms is None else o.click_ms for o in level], np.int64)
            views = np.array(
                [-1 if o.impression_ms is None else o.impression_ms for o in level], np.int64
            )
            value = np.where(is_click, clicks[row], views[row])
            window = np.where(hit & (value >= 0), value, window)
        return window


def _lookup(
    level: list[WindowOverride], advertiser_id: I64, partner_id: I64 | None
) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    """For every touch: does an override of `level` match it, and which one (exact ints)."""
    advs = np.array([o.advertiser_id for o in level], np.int64)
    if partner_id is None:
        codes = advs
        touch_codes = advertiser_id
    else:
        # Dense ranks of advertiser and partner among the overrides, combined into one code.
        parts = np.array([o.partner_id for o in level], np.int64)
        ua, up = np.unique(advs), np.unique(parts)
        codes = np.searchsorted(ua, advs) * len(up) + np.searchsorted(up, parts)
        ra = np.minimum(np.searchsorted(ua, advertiser_id), len(ua) - 1)
        rp = np.minimum(np.searchsorted(up, partner_id), len(up) - 1)
        known = (ua[ra] == advertiser_id) & (up[rp] == partner_id)
        touch_codes = np.where(known, ra * len(up) + rp, -1)
    sort = np.argsort(codes)
    sorted_codes = codes[sort]
    pos = np.minimum(np.searchsorted(sorted_codes, touch_codes), len(level) - 1)
    hit = sorted_codes[pos] == touch_codes
    return hit, sort[pos].astype(np.intp)

"""Click flooding on the stream: rolling counts per (advertiser, partner), pure.

``click_flooding_report`` judges partners from a table of clicks; a stream processor cannot
hold every click, so ``FloodLedger`` keeps, per (advertiser, partner) and per hour of the
collector's receive time, a few counters: clicks, credited installs, those of known CTIT,
those over 24 hours, and the CTIT histogram (``FloodThresholds.bin_hours`` wide bins over its
``window_hours``). Only the last ``FloodRules.window_hours`` hours count; a partner is
flooding when ``flood_signals`` over those counts says ``click_flooding`` (the same rule as
the report: a high click-to-install ratio and a flat or late CTIT distribution).

The ledger's clock is the newest receive time it was given, never the wall clock, and a
count older than the window is dropped whether it arrived early or late. So the same events,
fed in any order and cut into any batches, leave the same counts: the attributor can rebuild
the ledger from the store (``since_ms`` tells from when) and judge as if it never stopped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tracker.postbacks.fraud import (
    CLICK_FLOODING,
    HOUR_MS,
    FloodThresholds,
    PartnerClickStats,
    flatness,
    flood_signals,
)

Key = tuple[str, str]  # (advertiser_id, partner_id)
CLICKS, INSTALLS, TIMED, OVER_24H, BINS = range(5)  # counters of one hour, then the CTIT bins
NEVER = -(2**62)  # the clock before anything was seen


@dataclass(frozen=True, slots=True)
class FloodRules:
    """When a partner counts as click flooding on the stream."""

    thresholds: FloodThresholds = field(default_factory=FloodThresholds)
    window_hours: int = 24  # the rolling window the counts are taken over

    def __post_init__(self) -> None:
        if self.window_hours < 1:
            raise ValueError("window_hours must be at least 1")
        self.thresholds.bins()


class FloodLedger:
    def __init__(self, rules: FloodRules) -> None:
        self.rules = rules
        self._k = rules.thresholds.bins()
        self._bin_ms = rules.thresholds.bin_hours * HOUR_MS
        self._hours: dict[Key, dict[int, NDArray[np.int64]]] = {}
        self._totals: dict[Key, NDArray[np.int64]] = {}
        self.newest_hour = NEVER

    @property
    def first_hour(self) -> int:
        """The oldest hour (since the epoch) still counted."""
        return self.newest_hour - self.rules.window_hours + 1

    def since_ms(self) -> int:
        """Receive times from here on are counted: what a rebuild must read back."""
        return self.first_hour * HOUR_MS

    def partners(self) -> list[Key]:
        """The (advertiser, partner) pairs with counts in the window."""
        return sorted(self._totals)

    def advance(self, now_ms: int) -> bool:
        """Move the clock to `now_ms` (never back); True when the counted hours changed."""
        hour = now_ms // HOUR_MS
        if hour <= self.newest_hour:
            return False
        self.newest_hour = hour
        first = self.first_hour
        for key in list(self._hours):
            buckets = self._hours[key]
            for old in [h for h in buckets if h < first]:
                self._totals[key] -= buckets.pop(old)
            if not buckets:
                del self._hours[key], self._totals[key]
        return True

    def add_clicks(
        self,
        keys: Sequence[Key],
        received_ms: Sequence[int],
        counts: Sequence[int] | None = None,
    ) -> None:
        """Clicks (or, with `counts`, that many clicks each) received at `received_ms`."""
        hours = [ms // HOUR_MS for ms in received_ms]
        tally: Counter[tuple[Key, int]] = Counter()
        if counts is None:
            tally.update(zip(keys, hours, strict=True))
        else:
            for slot, n in zip(zip(keys, hours, strict=True), counts, strict=True):
                tally[slot] += n
        for (key, hour), n in tally.items():
            delta = np.zeros(BINS + self._k, np.int64)
            delta[CLICKS] = n
            self._add(key, hour, delta)
        if received_ms:
            self.advance(max(received_ms))

    def add_installs(
        self,
        keys: Sequence[Key],
        received_ms: Sequence[int],
        ctit_s: Sequence[float | None],
    ) -> None:
        """Installs credited to each key's partner, received at `received_ms`, with their
        click-to-install time in seconds (None when unknown)."""
        deltas: dict[tuple[Key, int], NDArray[np.int64]] = {}
        for key, ms, ctit in zip(keys, received_ms, ctit_s, strict=True):
            slot = (key, ms // HOUR_MS)
            delta = deltas.get(slot)
            if delta is None:
                delta = deltas[slot] = np.zeros(BINS + self._k, np.int64)
            delta[INSTALLS] += 1
            if ctit is None or math.isnan(ctit) or ctit < 0:
                continue
            ctit_ms = round(ctit * 1000)
            delta[TIMED] += 1
            delta[OVER_24H] += int(ctit_ms > 24 * HOUR_MS)
            if ctit_ms < self._k * self._bin_ms:
                delta[BINS + ctit_ms // self._bin_ms] += 1
        for (key, hour), delta in deltas.items():
            self._add(key, hour, delta)
        if received_ms:
            self.advance(max(received_ms))

    def _add(self, key: Key, hour: int, delta: NDArray[np.int64]) -> None:
        if hour < self.first_hour:  # already out of the window: it would be dropped anyway
            return
        buckets = self._hours.setdefault(key, {})
        if hour in buckets:
            buckets[hour] += delta
        else:
            buckets[hour] = delta.copy()
        total = self._totals.get(key)
        self._totals[key] = delta.copy() if total is None else total + delta

    def stats(self, key: Key) -> PartnerClickStats:
        """The partner's counts over the window and the signals they raise."""
        total = self._totals.get(key)
        if total is None:
            total = np.zeros(BINS + self._k, np.int64)
        clicks, installs, timed, over_24h = (int(v) for v in total[:BINS])
        flat = float(flatness(total[None, BINS:])[0])
        share = over_24h / timed if timed else math.nan
        return PartnerClickStats(
            partner=key[1],
            clicks=clicks,
            installs=installs,
            clicks_per_install=clicks / installs if installs else math.inf,
            share_ctit_over_24h=share,
            ctit_flatness=flat,
            signals=flood_signals(clicks, installs, timed, share, flat, self.rules.thresholds),
        )

    def flooding(self, key: Key) -> bool:
        return key in self._totals and CLICK_FLOODING in self.stats(key).signals

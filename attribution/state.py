"""`JourneyState`: the engine over a stream, batch after batch, in memory and pure.

Batches of touches and conversions are appended in arrival order; each call credits the new
conversions against every retained touch (this batch's included) and returns the result.
What it keeps, all columnar (numpy arrays, no object per row):

- retained touches, sorted by journey key so a batch only reads the keys it converts;
- conversion marks (`attribution.marks`): which conversions were credited already (a replay
  gets nothing), when each key last converted through a path (touches before that led to a
  conversion and do not count again), and the latest installs with their winning touch.

Nothing reads a clock: `advance(watermark_ms)` (or `append(..., watermark_ms=...)`) evicts
touches older than the longest lookback window before the watermark, and marks older than
the longest of that window and the post-install window. Conversions must not be older than
the watermark (they would miss evicted touches). For a time-ordered stream the credits equal
those of one `attribute` call over the whole stream, however it is cut into batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64, Conversions, Model, Touches
from attribution.engine import AttributionResult, EngineConfig, attribute_batch
from attribution.marks import ConversionMarks
from attribution.ordering import mix_group_keys

_Table = TypeVar("_Table", Touches, ConversionMarks)
_EVICT_EVERY_MS = 3_600_000  # evict when the oldest row is this far past the cutoff


class _KeyedTable(Generic[_Table]):
    """Rows of a columnar table kept sorted by journey key (stable: arrival order inside)."""

    def __init__(self, empty: _Table) -> None:
        self.rows: _Table = empty
        self.keys: I64 = np.zeros(0, np.int64)

    def insert(self, rows: _Table, keys: I64) -> None:
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows.take(order)
        at = np.searchsorted(self.keys, keys, side="right")
        self.keys = np.insert(self.keys, at, keys)
        self.rows = type(rows)(
            *(
                np.insert(getattr(self.rows, f.name), at, getattr(rows, f.name))
                for f in fields(rows)
            )
        )

    def ranges(self, keys: I64) -> tuple[I64, I64]:
        unique = np.unique(keys)
        return np.searchsorted(self.keys, unique), np.searchsorted(self.keys, unique, side="right")

    def select(self, keys: I64) -> NDArray[np.intp]:
        """Positions of the rows having one of `keys`."""
        lo, hi = self.ranges(keys)
        count = hi - lo
        first = np.cumsum(count) - count
        positions: NDArray[np.intp] = np.arange(int(count.sum())) + np.repeat(lo - first, count)
        return positions

    def keep(self, mask: NDArray[np.bool_]) -> None:
        self.keys = self.keys[mask]
        self.rows = self.rows.take(mask)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes) + sum(
            int(getattr(self.rows, f.name).nbytes) for f in fields(self.rows)
        )


class JourneyState:
    def __init__(
        self, config: EngineConfig | None = None, models: Sequence[Model] = (Model.LAST_TOUCH,)
    ) -> None:
        self.config = config or EngineConfig()
        self.models = tuple(models)
        z = np.zeros(0, np.int64)
        self._touches: _KeyedTable[Touches] = _KeyedTable(
            Touches(z, z, z, np.zeros(0, np.int8), z, z, z, np.zeros(0, np.uint8))
        )
        self._marks: _KeyedTable[ConversionMarks] = _KeyedTable(ConversionMarks.empty())
        self._oldest_touch_ms: int | None = None
        self._oldest_mark_ms: int | None = None
        self.watermark_ms: int | None = None

    def append(
        self, touches: Touches, conversions: Conversions, watermark_ms: int | None = None
    ) -> AttributionResult:
        """Retain `touches`, credit `conversions`, then advance to `watermark_ms` if given."""
        self._retain_touches(touches)
        keys = mix_group_keys(conversions.advertiser_id, conversions.identity)
        near = self._touches.rows.take(self._touches.select(keys))
        prior = self._marks.rows.take(self._marks.select(keys))
        result = attribute_batch(near, conversions, self.config, self.models, prior)
        marks = result.marks
        if len(marks):
            self._marks.insert(marks, mix_group_keys(marks.advertiser_id, marks.identity))
            self._oldest_mark_ms = _min(self._oldest_mark_ms, int(marks.ts_ms.min()))
        if watermark_ms is not None:
            self.advance(watermark_ms)
        return result

    def advance(self, watermark_ms: int) -> int:
        """Move the watermark forward (never back) and evict; returns touches evicted."""
        if self.watermark_ms is not None and watermark_ms <= self.watermark_ms:
            return 0
        self.watermark_ms = watermark_ms
        lookback = self.config.windows.longest_ms
        evicted = 0
        cutoff = watermark_ms - lookback
        if self._oldest_touch_ms is not None and self._oldest_touch_ms < cutoff - _EVICT_EVERY_MS:
            ts = self._touches.rows.ts_ms
            keep = ts >= cutoff
            evicted = int((~keep).sum())
            self._touches.keep(keep)
            self._oldest_touch_ms = int(ts[keep].min()) if bool(keep.any()) else None
        mark_cutoff = watermark_ms - max(lookback, self.config.post_install_ms)
        if (
            self._oldest_mark_ms is not None
            and self._oldest_mark_ms < mark_cutoff - _EVICT_EVERY_MS
        ):
            ts = self._marks.rows.ts_ms
            keep = ts >= mark_cutoff
            self._marks.keep(keep)
            self._oldest_mark_ms = int(ts[keep].min()) if bool(keep.any()) else None
        return evicted

    def _retain_touches(self, touches: Touches) -> None:
        if len(touches) == 0:
            return
        keys = mix_group_keys(touches.advertiser_id, touches.identity)
        fresh = ~self._seen(keys, touches.touch_id)
        touches, keys = touches.take(fresh), keys[fresh]
        if len(touches) == 0:
            return
        self._touches.insert(touches, keys)
        self._oldest_touch_ms = _min(self._oldest_touch_ms, int(touches.ts_ms.min()))

    def _seen(self, keys: I64, touch_id: I64) -> NDArray[np.bool_]:
        """Which touches are retained already (a replayed batch): compared within their key."""
        table = self._touches
        lo = np.searchsorted(table.keys, keys)
        hi = np.searchsorted(table.keys, keys, side="right")
        count = hi - lo
        first = np.cumsum(count) - count
        pos = np.arange(int(count.sum())) + np.repeat(lo - first, count)
        same = table.rows.touch_id[pos] == np.repeat(touch_id, count)
        seen = np.bincount(
            np.repeat(np.arange(keys.shape[0]), count)[same], minlength=keys.shape[0]
        )
        return seen > 0

    @property
    def retained_touches(self) -> int:
        return len(self._touches.rows)

    @property
    def retained_marks(self) -> int:
        return len(self._marks.rows)

    @property
    def bytes_per_touch(self) -> float:
        """Bytes held (touches, their keys and the marks) per retained touch."""
        n = self.retained_touches
        return (self._touches.nbytes + self._marks.nbytes) / n if n else 0.0


def _min(current: int | None, new: int) -> int:
    return new if current is None else min(current, new)

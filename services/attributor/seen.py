"""The event ids the attributor has taken in, and the campaign of each (pure, columnar).

Retried postbacks, spool replays and at-least-once edges of the bus can deliver one event id
twice; `SeenEvents` keeps the int64 keys of the ids seen within a retention window so the
second copy is dropped before it reaches the tables or the engine. It also remembers each
event's campaign (hashed), so a credit can name the campaign of the touch it credits.
24 bytes per id, held in sorted runs of doubling sizes, so adding a batch never re-sorts
everything.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]


class _Run:
    __slots__ = ("keys", "ts", "values")

    def __init__(self, keys: I64, ts: I64, values: I64) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys, self.ts, self.values = keys[order], ts[order], values[order]

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def find(self, keys: I64) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        if len(self) == 0:
            return np.zeros(keys.shape[0], np.intp), np.zeros(keys.shape[0], np.bool_)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self) - 1)
        found: NDArray[np.bool_] = self.keys[pos] == keys
        return pos, found


def _merge(a: _Run, b: _Run) -> _Run:
    return _Run(
        np.concatenate([a.keys, b.keys]),
        np.concatenate([a.ts, b.ts]),
        np.concatenate([a.values, b.values]),
    )


class SeenEvents:
    def __init__(self) -> None:
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs)

    def first_seen(self, keys: I64) -> NDArray[np.bool_]:
        """True for each key neither seen before nor repeated earlier in `keys`."""
        known = np.zeros(keys.shape[0], np.bool_)
        for run in self._runs:
            known |= run.find(keys)[1]
        _, first = np.unique(keys, return_index=True)
        unique_here = np.zeros(keys.shape[0], np.bool_)
        unique_here[first] = True
        return ~known & unique_here

    def values_of(self, keys: I64) -> I64:
        """The value stored with each key (0 for keys not held)."""
        out = np.zeros(keys.shape[0], np.int64)
        for run in self._runs:
            pos, found = run.find(keys)
            out[found] = run.values[pos[found]]
        return out

    def add(self, keys: I64, ts_ms: I64, values: I64 | None = None) -> None:
        if keys.shape[0] == 0:
            return
        self._runs.append(_Run(keys, ts_ms, values if values is not None else np.zeros_like(keys)))
        # Merge while the previous run is not much larger (a binary counter of run sizes):
        # O(log n) runs, each id re-sorted O(log n) times over its life.
        while len(self._runs) > 1 and len(self._runs[-2]) <= 2 * len(self._runs[-1]):
            self._runs[-2:] = [_merge(self._runs[-2], self._runs[-1])]

    def evict(self, before_ms: int) -> int:
        evicted = 0
        runs = []
        for run in self._runs:
            keep = run.ts >= before_ms
            evicted += int((~keep).sum())
            if bool(keep.any()):
                runs.append(_Run(run.keys[keep], run.ts[keep], run.values[keep]))
        self._runs = runs
        return evicted

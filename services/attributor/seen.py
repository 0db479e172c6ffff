"""Which event ids the attributor has already taken in (pure, columnar).

Retried postbacks, spool replays and at-least-once edges of the bus can deliver one event id
twice; `SeenEvents` keeps the int64 keys of the ids seen within a retention window so the
second copy is dropped before it reaches the tables or the engine. 16 bytes per id, held in
sorted runs of doubling sizes, so adding a batch never re-sorts everything.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]


def _contains(sorted_keys: I64, keys: I64) -> NDArray[np.bool_]:
    if sorted_keys.shape[0] == 0:
        return np.zeros(keys.shape[0], np.bool_)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.shape[0] - 1)
    found: NDArray[np.bool_] = sorted_keys[pos] == keys
    return found


class SeenEvents:
    def __init__(self) -> None:
        self._runs: list[tuple[I64, I64]] = []  # (sorted keys, their ts)

    def __len__(self) -> int:
        return sum(int(k.shape[0]) for k, _ in self._runs)

    def first_seen(self, keys: I64) -> NDArray[np.bool_]:
        """True for each key neither seen before nor repeated earlier in `keys`."""
        known = np.zeros(keys.shape[0], np.bool_)
        for run_keys, _ in self._runs:
            known |= _contains(run_keys, keys)
        _, first = np.unique(keys, return_index=True)
        unique_here = np.zeros(keys.shape[0], np.bool_)
        unique_here[first] = True
        return ~known & unique_here

    def add(self, keys: I64, ts_ms: I64) -> None:
        if keys.shape[0] == 0:
            return
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], ts_ms[order]))
        # Merge while the previous run is not much larger (a binary counter of run sizes):
        # O(log n) runs, each id re-sorted O(log n) times over its life.
        while len(self._runs) > 1 and self._runs[-2][0].shape[0] <= 2 * self._runs[-1][0].shape[0]:
            (k1, t1), (k2, t2) = self._runs[-2], self._runs[-1]
            keys_all, ts_all = np.concatenate([k1, k2]), np.concatenate([t1, t2])
            merged = np.argsort(keys_all, kind="stable")
            self._runs[-2:] = [(keys_all[merged], ts_all[merged])]

    def evict(self, before_ms: int) -> int:
        evicted = 0
        runs = []
        for keys, ts in self._runs:
            keep = ts >= before_ms
            evicted += int((~keep).sum())
            if bool(keep.any()):
                runs.append((keys[keep], ts[keep]))
        self._runs = runs
        return evicted

"""Dense codes of a column holding few distinct values (partners, states), without a full sort.

`dense_codes(values)` returns what `np.unique(values, return_inverse=True)` returns -- the
distinct values ascending and each row's index among them -- in time linear in the rows:

- values in a narrow range (ids 1..k): a presence table indexed by `value - min`;
- otherwise (hashed ids): the distinct values of a small sample, looked up with
  `searchsorted` (a few cache-resident steps per row); the values the sample missed are added
  and looked up again, so the result is exact whatever the sample.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]

_TABLE_SLOTS_PER_ROW = 4  # a presence table up to 4 slots per row (and at least 65536)
_SAMPLE = 4096


def dense_codes(values: I64) -> tuple[I64, I64]:
    """(distinct values ascending, code of each row) with `distinct[code] == values`."""
    n = values.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    low, high = int(values.min()), int(values.max())
    if high - low < max(_TABLE_SLOTS_PER_ROW * n, 1 << 16):
        base = low if low < 0 or low > n else 0  # small non-negative ids index the table as is
        index = values - base if base else values
        present = np.bincount(index, minlength=high - base + 1) > 0
        code_of = np.cumsum(present, dtype=np.int64)
        code_of -= 1
        return np.flatnonzero(present).astype(np.int64) + base, code_of[index]
    distinct = np.unique(values[:: max(n // _SAMPLE, 1)])
    while True:
        at = np.minimum(np.searchsorted(distinct, values), distinct.shape[0] - 1)
        missed = distinct[at] != values
        if not bool(missed.any()):
            return distinct.astype(np.int64), at.astype(np.int64)
        distinct = np.union1d(distinct, values[missed])

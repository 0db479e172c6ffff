from __future__ import annotations

import numpy as np

from services.attributor.seen import SeenEvents


def ids(*values: int) -> np.ndarray:  # type: ignore[type-arg]
    return np.array(values, np.int64)


def test_first_seen_drops_known_ids_and_repeats_within_a_batch() -> None:
    seen = SeenEvents()
    seen.add(ids(5, 1, 9), ids(100, 100, 100))
    assert seen.first_seen(ids(1, 2, 2, 9, 3)).tolist() == [False, True, False, False, True]


def test_values_are_found_across_merged_runs() -> None:
    seen = SeenEvents()
    for batch in range(40):  # many runs, merged as their sizes double
        keys = np.arange(batch * 10, batch * 10 + 10, dtype=np.int64)
        seen.add(keys, keys, keys * 7)
    assert len(seen) == 400
    assert len(seen._runs) <= 10
    assert seen.values_of(ids(0, 399, 123, 1000)).tolist() == [0, 2793, 861, 0]


def test_evict_forgets_old_ids() -> None:
    seen = SeenEvents()
    seen.add(ids(1, 2, 3), ids(10, 20, 30), ids(4, 5, 6))
    assert seen.evict(before_ms=20) == 1
    assert seen.first_seen(ids(1, 2)).tolist() == [True, False]
    assert seen.values_of(ids(3)).tolist() == [6]

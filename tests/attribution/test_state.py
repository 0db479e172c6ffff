"""JourneyState: batches, replays, eviction by watermark, memory per retained touch."""

from __future__ import annotations

import numpy as np

from attribution.columns import Model
from attribution.engine import EngineConfig, attribute
from attribution.state import JourneyState
from tests.attribution.journey_tables import C, T, at, conversions, credited, touches

DAYS_30 = 720


def test_touches_of_earlier_batches_are_credited() -> None:
    state = JourneyState(models=(Model.LINEAR,))
    assert len(state.append(touches(T(1, 0), T(2, 1)), conversions()).credits) == 0
    result = state.append(touches(T(3, 2)), conversions(C(10, 3, 900)))
    assert credited(result.credits) == {10: [(1, 300), (2, 300), (3, 300)]}


def test_replayed_batch_credits_nothing_and_keeps_nothing_more() -> None:
    state = JourneyState()
    t, c = touches(T(1, 0), T(2, 1)), conversions(C(10, 3, 900), C(11, 4, 5, identity=2))
    first = state.append(t, c)
    retained = (state.retained_touches, state.retained_marks)
    again = state.append(t, c)
    assert len(first.credits) == 1
    assert len(again.credits) == 0
    assert (state.retained_touches, state.retained_marks) == retained


def test_touches_credited_in_an_earlier_batch_do_not_count_again() -> None:
    state = JourneyState()
    state.append(touches(T(1, 0)), conversions(C(10, 1)))
    assert len(state.append(touches(), conversions(C(11, 2))).credits) == 0


def test_installs_of_earlier_batches_are_inherited_after_their_touch_is_evicted() -> None:
    state = JourneyState()
    state.append(touches(T(1, 0)), conversions(C(10, 10, 0, install=True)))
    state.advance(at(DAYS_30 + 5))  # the click is now older than any lookback window
    assert (state.retained_touches, state.retained_marks) == (0, 1)
    result = state.append(touches(), conversions(C(11, DAYS_30 + 6, 700)))
    assert credited(result.credits) == {11: [(1, 700)]}


def test_eviction_follows_the_watermark_and_never_goes_back() -> None:
    state = JourneyState()
    state.append(touches(T(1, 0), T(2, 100), T(3, 200)), conversions())
    assert state.advance(at(100 + DAYS_30)) == 1  # touch 1 is older than 30 days before it
    assert state.retained_touches == 2
    assert state.advance(at(50)) == 0
    assert state.watermark_ms == at(100 + DAYS_30)
    result = state.append(touches(), conversions(C(10, 100 + DAYS_30, 10)))
    assert credited(result.credits) == {10: [(3, 10)]}


def test_marks_expire_after_the_longest_window() -> None:
    state = JourneyState()
    state.append(touches(T(1, 0)), conversions(C(10, 1)))
    assert state.retained_marks == 1
    state.advance(at(1 + DAYS_30 + 2))
    assert state.retained_marks == 0


def test_batches_equal_one_pass_on_a_generated_stream() -> None:
    rng = np.random.default_rng(7)
    n, m = 400, 60
    ident = rng.integers(1, 30, n)
    rows = [
        T(i + 1, float(h), identity=int(k))
        for i, (h, k) in enumerate(zip(rng.integers(0, 200, n), ident, strict=True))
    ]
    columns = zip(
        rng.integers(10, 210, m), rng.integers(1, 10**5, m), rng.integers(1, 30, m), strict=True
    )
    conv = [C(1000 + j, float(h), int(r), identity=int(k)) for j, (h, r, k) in enumerate(columns)]
    all_t, all_c = touches(*rows), conversions(*conv)
    models = (Model.LINEAR, Model.LAST_TOUCH)
    state = JourneyState(EngineConfig(), models)
    got: dict[int, list[tuple[int, int]]] = {}
    for lo in range(0, 220, 20):
        bt = all_t.take((all_t.ts_ms >= at(lo)) & (all_t.ts_ms < at(lo + 20)))
        bc = all_c.take((all_c.ts_ms >= at(lo)) & (all_c.ts_ms < at(lo + 20)))
        result = state.append(bt, bc, watermark_ms=at(lo))
        got.update(credited(result.credits, Model.LINEAR))
    assert got == credited(attribute(all_t, all_c, EngineConfig(), models), Model.LINEAR)


def test_bytes_per_retained_touch() -> None:
    rng = np.random.default_rng(1)
    n = 5000
    rows = [
        T(i + 1, float(h), identity=int(k))
        for i, (h, k) in enumerate(
            zip(rng.integers(0, 500, n), rng.integers(1, 2000, n), strict=True)
        )
    ]
    state = JourneyState()
    state.append(
        touches(*rows), conversions(*[C(10**6 + j, 600, 1, identity=j) for j in range(1, 500)])
    )
    assert state.retained_touches == n
    assert 50 <= state.bytes_per_touch <= 100

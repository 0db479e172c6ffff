"""Click flooding on the stream: the rolling ledger and the rule it shares with the report."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.postbacks.flooding import FloodLedger, FloodRules, Key
from tracker.postbacks.fraud import (
    CLICK_FLOODING,
    CLICKS_PER_INSTALL_HIGH,
    CTIT_DISTRIBUTION_FLAT,
    CTIT_OVER_24H_SHARE_HIGH,
    NO_INSTALL,
    FloodThresholds,
    click_flooding_report,
    flood_signals,
)

HOUR = 3_600_000
T0 = 1_795_300_000_000 // HOUR * HOUR  # on an hour boundary
ADV = "rocket-app"
RATIO, SHARE, FLAT, FLOOD = (
    CLICKS_PER_INSTALL_HIGH,
    CTIT_OVER_24H_SHARE_HIGH,
    CTIT_DISTRIBUTION_FLAT,
    CLICK_FLOODING,
)


@pytest.mark.parametrize(
    ("clicks", "installs", "timed", "share", "flat", "thresholds", "signals"),
    [
        (5_000, 20, 20, 0.9, 0.9, FloodThresholds(), (RATIO, SHARE, FLAT, FLOOD)),
        (5_000, 20, 20, 0.9, 0.1, FloodThresholds(), (RATIO, SHARE, FLOOD)),
        (5_000, 20, 20, 0.1, 0.9, FloodThresholds(), (RATIO, FLAT, FLOOD)),
        (5_000, 20, 20, 0.1, 0.1, FloodThresholds(), (RATIO,)),  # CTITs look genuine
        (1_000, 20, 20, 0.9, 0.9, FloodThresholds(), (SHARE, FLAT)),  # 50 per install
        (5_000, 20, 19, 0.9, 0.9, FloodThresholds(), (RATIO,)),  # too few timed installs
        (5_000, 0, 0, math.nan, math.nan, FloodThresholds(), (RATIO,)),  # no install yet
        (0, 0, 0, math.nan, math.nan, FloodThresholds(), ()),  # nothing at all
        (5_000, 20, 20, 0.9, 0.9, FloodThresholds(min_clicks=5_001), (SHARE, FLAT)),
        (5_000, 20, 20, 0.9, 0.9, FloodThresholds(min_clicks=5_000), (RATIO, SHARE, FLAT, FLOOD)),
        (5_000, 20, 20, 0.5, 0.7, FloodThresholds(), (RATIO,)),  # thresholds are not "above"
    ],
)
def test_flood_signals(
    clicks: int,
    installs: int,
    timed: int,
    share: float,
    flat: float,
    thresholds: FloodThresholds,
    signals: tuple[str, ...],
) -> None:
    assert flood_signals(clicks, installs, timed, share, flat, thresholds) == signals


RULES = FloodRules(FloodThresholds(max_clicks_per_install=10, min_installs=4, min_clicks=50), 24)
FLOODER: Key = (ADV, "floodnet")
HONEST: Key = (ADV, "mobidream")


def flood(ledger: FloodLedger, key: Key, clicks: int, ctits_h: list[float], at: int) -> None:
    """`clicks` clicks and one install per CTIT (hours), all received at `at`."""
    ledger.add_clicks([key] * clicks, [at] * clicks)
    ledger.add_installs([key] * len(ctits_h), [at] * len(ctits_h), [h * 3600 for h in ctits_h])


@pytest.mark.parametrize(
    ("clicks", "ctits_h", "flooding"),
    [
        (100, [30, 50, 70, 90], True),  # 25 clicks per install, every CTIT over a day
        (100, [1, 26, 50, 75, 100, 120, 140, 160], True),  # 12.5 per install, flat over a week
        (100, [0.01, 0.02, 0.1, 0.5], False),  # ratio high, CTITs of real users
        (30, [30, 50, 70], False),  # too few clicks and timed installs to judge
        (100, [30, 50, 70], False),  # 3 timed installs: the distribution is not judged
        (60, [30, 50, 70, 90] * 2, False),  # 7.5 clicks per install
    ],
)
def test_ledger_judges_a_partner(clicks: int, ctits_h: list[float], flooding: bool) -> None:
    ledger = FloodLedger(RULES)
    flood(ledger, FLOODER, clicks, ctits_h, T0)
    flood(ledger, HONEST, 40, [0.01] * 10, T0)
    assert ledger.flooding(FLOODER) is flooding
    assert not ledger.flooding(HONEST)
    assert not ledger.flooding((ADV, "never-seen"))
    assert ledger.stats(FLOODER).installs == len(ctits_h)


def test_installs_of_unknown_ctit_count_for_the_ratio_only() -> None:
    ledger = FloodLedger(RULES)
    ledger.add_clicks([FLOODER] * 100, [T0] * 100)
    ledger.add_installs([FLOODER] * 4, [T0] * 4, [None, None, None, 40 * 3600])
    stats = ledger.stats(FLOODER)
    assert (stats.installs, stats.clicks_per_install, stats.share_ctit_over_24h) == (4, 25.0, 1.0)
    assert not ledger.flooding(FLOODER)  # one timed install: the distribution is not judged


def test_counts_leave_the_window_as_the_clock_moves() -> None:
    ledger = FloodLedger(RULES)
    flood(ledger, FLOODER, 100, [30, 50, 70, 90], T0)
    assert ledger.flooding(FLOODER)
    ledger.add_clicks([HONEST], [T0 + 23 * HOUR])  # the window is hours T0 .. T0 + 23 h
    assert ledger.stats(FLOODER).clicks == 100
    ledger.advance(T0 + 24 * HOUR)  # T0's hour left the window
    assert ledger.stats(FLOODER).clicks == 0
    assert not ledger.flooding(FLOODER)
    assert ledger.partners() == [HONEST]
    assert ledger.since_ms() == T0 + HOUR


def test_late_counts_outside_the_window_are_dropped_and_the_clock_never_goes_back() -> None:
    ledger = FloodLedger(RULES)
    ledger.advance(T0 + 30 * HOUR)
    assert not ledger.advance(T0)
    ledger.add_clicks([FLOODER] * 3, [T0 + 6 * HOUR, T0 + 7 * HOUR, T0 + 29 * HOUR])
    assert ledger.stats(FLOODER).clicks == 2  # hour 6 is before the window (hours 7 .. 30)
    assert ledger.newest_hour == T0 // HOUR + 30


def test_aggregated_clicks_count_like_single_clicks() -> None:
    """The attributor rebuilds from per-hour counts: the same as the clicks one by one."""
    one_by_one, aggregated = FloodLedger(RULES), FloodLedger(RULES)
    times = [T0 + m * 60_000 for m in range(0, 300, 7)]
    one_by_one.add_clicks([FLOODER] * len(times), times)
    hours = sorted({t // HOUR for t in times})
    aggregated.add_clicks(
        [FLOODER] * len(hours),
        [h * HOUR for h in hours],
        [sum(1 for t in times if t // HOUR == h) for h in hours],
    )
    a, b = one_by_one.stats(FLOODER), aggregated.stats(FLOODER)
    assert (a.clicks, a.installs, a.signals) == (b.clicks, b.installs, b.signals) == (43, 0, ())
    assert one_by_one.newest_hour == aggregated.newest_hour


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (lambda: FloodRules(window_hours=0), "window_hours must be at least 1"),
        (lambda: FloodRules(FloodThresholds(window_hours=30, bin_hours=24)), "multiple"),
    ],
)
def test_rules_are_checked(rules: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rules()  # type: ignore[operator]


# --- the same answers as the report, however the stream is cut ---------------------------


def report_rows(
    events: list[tuple[str, int, float | None]],
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each install as one click plus its install; extra clicks without install."""
    partners, clicks, installs = [], [], []
    for partner, at, ctit in events:
        partners.append(partner)
        clicks.append(at - round(ctit * 1000) if ctit is not None else at)
        installs.append(at if ctit is not None else NO_INSTALL)
    return partners, np.array(clicks, np.int64), np.array(installs, np.int64)


event = st.tuples(
    st.sampled_from(["a", "b"]),
    st.integers(0, 5 * HOUR),
    st.one_of(st.none(), st.floats(0, 200 * 3600, allow_nan=False)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(event, min_size=1, max_size=80), st.randoms(use_true_random=False))
def test_ledger_equals_the_report_in_any_order_and_batches(
    raw: list[tuple[str, int, float | None]], rnd: random.Random
) -> None:
    """A row with a CTIT is an install (and its click), one without is a click alone."""
    thresholds = FloodThresholds(max_clicks_per_install=1.5, min_installs=2, min_clicks=2)
    events = [(p, T0 + at, ctit) for p, at, ctit in raw]
    report = click_flooding_report(*report_rows(events), thresholds)

    ledger = FloodLedger(FloodRules(thresholds, window_hours=6))
    rnd.shuffle(events)
    start = 0
    while start < len(events):
        end = start + rnd.randint(1, 10)
        batch = events[start:end]
        ledger.add_clicks([(ADV, p) for p, _, _ in batch], [at for _, at, _ in batch])
        installs = [(p, at, c) for p, at, c in batch if c is not None]
        ledger.add_installs(
            [(ADV, p) for p, _, _ in installs],
            [at for _, at, _ in installs],
            [c for *_, c in installs],
        )
        start = end
    for partner, expected in report.items():
        got = ledger.stats((ADV, partner))
        assert (got.clicks, got.installs, got.signals) == (
            expected.clicks,
            expected.installs,
            expected.signals,
        )
        assert got.clicks_per_install == expected.clicks_per_install
        for a, b in ((got.ctit_flatness, expected.ctit_flatness),
                     (got.share_ctit_over_24h, expected.share_ctit_over_24h)):  # fmt: skip
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)

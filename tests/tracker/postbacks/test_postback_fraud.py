"""Fraud signals: CTIT too short, data-centre IPs, click flooding per partner."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.network import NetworkSet
from tracker.postbacks import (
    FloodThresholds,
    FraudRules,
    click_flooding_report,
    default_presets,
    map_postback,
    postback_fraud_signals,
)
from tracker.postbacks.fraud import NO_INSTALL

HOUR = 3_600_000
GENERIC = default_presets()["generic"]
RULES = FraudRules(datacenter_networks=NetworkSet.compile(["198.51.100.0/24", "2001:db8::/32"]))


def install(click_ms: int, install_ms: int, ip: str | None = None) -> dict[str, str]:
    params = {"event_name": "install", "click_ts": str(click_ms), "install_ts": str(install_ms)}
    return params | ({"device_ip": ip} if ip else {})


T0 = 1_714_557_600_000


@pytest.mark.parametrize(
    ("params", "signals"),
    [
        (install(T0, T0 + 45_000), ()),
        (install(T0, T0 + 10_000), ()),  # exactly the threshold is not "under" it
        (install(T0, T0 + 3_000), ("ctit_too_short",)),
        (install(T0, T0 - 60_000), ("ctit_too_short",)),  # install before the click
        ({"event_name": "install", "install_ts": str(T0)}, ()),  # CTIT unknown
        (install(T0, T0 + 45_000, "198.51.100.9"), ("datacenter_ip",)),
        (install(T0, T0 + 2_000, "2001:db8:1::5"), ("ctit_too_short", "datacenter_ip")),
        (install(T0, T0 + 45_000, "203.0.113.9"), ()),
    ],
)
def test_postback_fraud_signals(params: dict[str, str], signals: tuple[str, ...]) -> None:
    assert postback_fraud_signals(map_postback(GENERIC, params), RULES) == signals


def test_ctit_threshold_is_configurable() -> None:
    mapped = map_postback(GENERIC, install(T0, T0 + 45_000))
    assert postback_fraud_signals(mapped, FraudRules(min_ctit_s=60)) == ("ctit_too_short",)


# --- click flooding ---------------------------------------------------------------------------


def clicks(partner: str, n_clicks: int, ctits_ms: list[int]) -> list[tuple[str, int, int]]:
    """n_clicks clicks one minute apart; the first len(ctits_ms) led to installs."""
    rows = []
    for i in range(n_clicks):
        click = T0 + i * 60_000
        rows.append((partner, click, click + ctits_ms[i] if i < len(ctits_ms) else NO_INSTALL))
    return rows


def arrays(rows: list[tuple[str, int, int]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    return (
        [r[0] for r in rows],
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
    )


HONEST = clicks("honest", 200, [30_000 + i * 90_000 for i in range(40)])  # all within 1 h
FLOODER = clicks("flooder", 10_000, [i * 4 * HOUR + 1_000 for i in range(40)])  # ~uniform
QUIET = clicks("quiet", 300, [])  # clicks, no install yet


def test_click_flooding_is_flagged_only_for_the_flooder() -> None:
    report = click_flooding_report(*arrays(HONEST + FLOODER + QUIET), FloodThresholds())
    honest, flooder, quiet = report["honest"], report["flooder"], report["quiet"]

    assert (honest.clicks, honest.installs, honest.clicks_per_install) == (200, 40, 5.0)
    assert honest.share_ctit_over_24h == 0.0
    assert honest.ctit_flatness == 0.0  # every install in the first day
    assert honest.signals == ()

    assert (flooder.clicks, flooder.installs, flooder.clicks_per_install) == (10_000, 40, 250.0)
    assert flooder.share_ctit_over_24h == pytest.approx(34 / 40)  # i * 4 h > 24 h for i >= 6
    assert flooder.ctit_flatness > 0.99  # 6, 6, 6, 6, 6, 6, 4 installs over the 7 days
    assert flooder.click_flooding
    assert flooder.signals == (
        "clicks_per_install_high",
        "ctit_over_24h_share_high",
        "ctit_distribution_flat",
        "click_flooding",
    )

    assert quiet.clicks_per_install == math.inf
    assert math.isnan(quiet.share_ctit_over_24h)
    assert math.isnan(quiet.ctit_flatness)
    assert quiet.signals == ("clicks_per_install_high",)  # too few installs to judge CTITs
    assert not quiet.click_flooding


@pytest.mark.parametrize(
    ("thresholds", "flagged"),
    [
        (FloodThresholds(max_clicks_per_install=200), True),
        (FloodThresholds(max_clicks_per_install=300), False),  # 250 clicks per install
        (FloodThresholds(min_installs=41), False),  # 40 installs: too few to judge CTITs
        (FloodThresholds(max_share_ctit_over_24h=0.9, max_ctit_flatness=0.999), False),
        (FloodThresholds(max_share_ctit_over_24h=0.9), True),  # flatness alone suffices
    ],
)
def test_thresholds_are_passed_in(thresholds: FloodThresholds, flagged: bool) -> None:
    assert click_flooding_report(*arrays(FLOODER), thresholds)["flooder"].click_flooding is flagged


def test_flatness_extremes() -> None:
    k = 24
    uniform = clicks("u", 48, [h * HOUR + 5 for h in range(k)] * 2)
    spike = clicks("s", 48, [5] * 48)
    report = click_flooding_report(
        *arrays(uniform + spike), FloodThresholds(window_hours=k, bin_hours=1)
    )
    assert report["u"].ctit_flatness == pytest.approx(1.0)
    assert report["s"].ctit_flatness == pytest.approx(0.0)


@pytest.mark.parametrize(("window", "width"), [(24, 24), (24, 5), (24, 0)])
def test_window_must_hold_whole_bins(window: int, width: int) -> None:
    with pytest.raises(ValueError, match="multiple of bin_hours"):
        click_flooding_report(
            *arrays(HONEST), FloodThresholds(window_hours=window, bin_hours=width)
        )


def test_mismatched_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        click_flooding_report(
            ["a", "b"],
            np.array([1], dtype=np.int64),
            np.array([1], dtype=np.int64),
            FloodThresholds(),
        )


def reference(rows: list[tuple[str, int, int]], k: int) -> dict[str, tuple[int, int, float]]:
    """Plain-Python clicks, installs and flatness per partner, to check the numpy version."""
    out = {}
    for partner in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == partner]
        ctits = [i - c for _, c, i in mine if i >= 0]
        binned = [0] * k
        for ctit in ctits:
            if 0 <= ctit < k * HOUR:
                binned[ctit // HOUR] += 1
        n = sum(binned)
        if n:
            chi2 = sum((b - n / k) ** 2 / (n / k) for b in binned)
            flatness = 1 - chi2 / (n * (k - 1))
        else:
            flatness = math.nan
        out[partner] = (len(mine), len(ctits), flatness)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 10 * HOUR),
            st.one_of(st.just(NO_INSTALL), st.integers(-HOUR, 9 * HOUR)),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_vectorised_report_equals_the_reference(raw: list[tuple[str, int, int]]) -> None:
    rows = [(p, c, NO_INSTALL if d == NO_INSTALL else c + d) for p, c, d in raw]
    k = 8
    report = click_flooding_report(*arrays(rows), FloodThresholds(window_hours=k, bin_hours=1))
    expected = reference(rows, k)
    assert report.keys() == expected.keys()
    for partner, (n_clicks, n_installs, flatness) in expected.items():
        stats = report[partner]
        assert (stats.clicks, stats.installs) == (n_clicks, n_installs)
        if math.isnan(flatness):
            assert math.isnan(stats.ctit_flatness)
        else:
            assert stats.ctit_flatness == pytest.approx(flatness)
            assert 0.0 <= stats.ctit_flatness <= 1.0

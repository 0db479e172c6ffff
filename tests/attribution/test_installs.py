"""CPI installs (one winning touch) and post-install events (inherit the install's credit)."""

from __future__ import annotations

import pytest

from attribution.columns import Model, Role
from attribution.engine import EngineConfig, attribute, attribute_batch
from attribution.windows import HOUR_MS
from tests.attribution.journey_tables import (
    BOT,
    CLICK,
    IMP,
    C,
    T,
    canonical,
    conversions,
    credited,
    touches,
)

DAYS_30 = 720

WINNER_CASES = [
    # (name, touches, install click id, expected winning touch or None)
    ("click id beats a later click", [T(1, 0), T(2, 1)], 1, 1),
    ("no click id: last click", [T(1, 0), T(2, 1), T(3, 1.5, IMP)], 0, 2),
    ("click beats a later impression", [T(1, 0, CLICK), T(2, 1, IMP)], 0, 1),
    ("only impressions: the last one", [T(1, 0, IMP), T(2, 1, IMP)], 0, 2),
    (
        "click id of a bot click: last eligible click",
        [T(1, 0, flags=BOT), T(2, 1), T(3, 1.2)],
        1,
        3,
    ),
    ("click id of an impression is no match", [T(1, 0, IMP), T(2, 0.5)], 1, 2),
    ("click id unknown: last click", [T(1, 0), T(2, 1)], 99, 2),
    ("no eligible touch: organic", [T(1, 0, flags=BOT)], 1, None),
]


@pytest.mark.parametrize(
    ("touch_rows", "click_id", "winner"),
    [pytest.param(t, c, w, id=name) for name, t, c, w in WINNER_CASES],
)
def test_install_winner(touch_rows: list[T], click_id: int, winner: int | None) -> None:
    install = conversions(C(10, 3, 500, install=True, click_id=click_id))
    credits = attribute(touches(*touch_rows), install, None, (Model.LAST_TOUCH,))
    assert credited(credits) == ({} if winner is None else {10: [(winner, 500)]})


def test_click_id_over_expired_window() -> None:
    # The named click is 31 days old: outside the click window, so the device's last click wins.
    t = touches(T(1, 0), T(2, DAYS_30))
    install = conversions(C(10, DAYS_30 + 25, 500, install=True, click_id=1))
    assert credited(attribute(t, install)) == {10: [(2, 500)]}


def test_install_is_one_sole_credit_under_every_model() -> None:
    t = touches(T(1, 0), T(2, 1), T(3, 2))
    models = [Model.LAST_TOUCH, Model.FIRST_TOUCH, Model.LINEAR, Model.TIME_DECAY,
              Model.POSITION_BASED, Model.ROLE_WEIGHTS]  # fmt: skip
    credits = canonical(
        attribute(t, conversions(C(10, 3, 900, install=True, click_id=2)), None, models)
    )
    assert credits.touch_id.tolist() == [2] * len(models)
    assert credits.role.tolist() == [Role.SOLE] * len(models)
    assert credits.weight.tolist() == [1.0] * len(models)
    assert credits.credited_revenue.tolist() == [900] * len(models)
    assert credits.path_length.tolist() == [1] * len(models)


POST_INSTALL_CASES = [
    # (name, touches, conversions, config, expected credits of the non-install conversions)
    (
        "event inside the window inherits the install's touch",
        [T(1, 0), T(2, 2)],
        [C(10, 1, 0, install=True), C(11, 3, 700)],
        None,
        {11: [(1, 700)]},
    ),
    (
        "event after the window is attributed again, without the install's touches",
        [T(1, 0), T(2, 500)],
        [C(10, 1, 0, install=True), C(11, 1 + DAYS_30 + 0.5, 700)],
        None,
        {11: [(2, 700)]},
    ),
    (
        "event at the window's end still inherits",
        [T(1, 0), T(2, 500)],
        [C(10, 1, 0, install=True), C(11, 1 + DAYS_30, 700)],
        None,
        {11: [(1, 700)]},
    ),
    (
        "inherited events consume nothing",
        [T(1, 0), T(2, 2)],
        [C(10, 1, 0, install=True), C(11, 3, 700), C(12, 1 + DAYS_30 + 0.5, 900)],
        None,
        {11: [(1, 700)], 12: [(2, 900)]},
    ),
    (
        "after an organic install events are organic",
        [T(2, 2)],
        [C(10, 1, 0, install=True), C(11, 3, 700)],
        None,
        {},
    ),
    (
        "a shorter post-install window",
        [T(1, 0), T(2, 2)],
        [C(10, 1, 0, install=True), C(11, 3, 700)],
        EngineConfig(post_install_ms=HOUR_MS),
        {11: [(2, 700)]},
    ),
    (
        "the latest install governs",
        [T(1, 0), T(2, 2)],
        [C(10, 1, 0, install=True), C(11, 3, 0, install=True), C(12, 4, 700)],
        None,
        {12: [(2, 700)]},
    ),
    (
        "another advertiser's install does not count",
        [T(1, 0), T(2, 2, advertiser=2)],
        [C(10, 1, 0, install=True), C(11, 3, 700, advertiser=2)],
        None,
        {11: [(2, 700)]},
    ),
    (
        "same ms: the install with the lower id comes first",
        [T(1, 0)],
        [C(10, 1, 0, install=True), C(11, 1, 700)],
        None,
        {11: [(1, 700)]},
    ),
    (
        "same ms: an event with a lower id comes before the install",
        [T(1, 0)],
        [C(11, 1, 0, install=True), C(10, 1, 700)],
        None,
        {10: [(1, 700)]},
    ),
]


@pytest.mark.parametrize(
    ("touch_rows", "conversion_rows", "config", "expected"),
    [pytest.param(t, c, cfg, e, id=name) for name, t, c, cfg, e in POST_INSTALL_CASES],
)
def test_post_install(
    touch_rows: list[T],
    conversion_rows: list[C],
    config: EngineConfig | None,
    expected: dict[int, list[tuple[int, int]]],
) -> None:
    credits = attribute(
        touches(*touch_rows), conversions(*conversion_rows), config, (Model.LINEAR,)
    )
    installs = {c.conversion_id for c in conversion_rows if c.install}
    events = {k: v for k, v in credited(credits).items() if k not in installs}
    assert events == expected


def test_inherited_credit_is_sole_with_own_revenue_for_every_model() -> None:
    t = touches(T(1, 0), T(2, 2))
    c = conversions(C(10, 1, 0, install=True), C(11, 3, 1234))
    credits = canonical(attribute(t, c, None, (Model.LINEAR, Model.TIME_DECAY)))
    event = credits.take(credits.conversion_id == 11)
    assert event.touch_id.tolist() == [1, 1]
    assert event.credited_revenue.tolist() == [1234, 1234]
    assert event.role.tolist() == [Role.SOLE, Role.SOLE]


def test_organic_install_and_its_events_are_unattributed() -> None:
    result = attribute_batch(touches(), conversions(C(10, 1, 0, install=True), C(11, 3, 700)))
    assert len(result.credits) == 0
    assert result.unattributed == 2

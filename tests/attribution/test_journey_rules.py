"""Table-driven rules of journeys: windows, order, exclusions, keys, roles (linear credits)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from attribution.columns import Model, Role
from attribution.engine import EngineConfig, attribute, attribute_batch
from attribution.windows import LookbackWindows, WindowOverride
from tests.attribution.journey_tables import (
    BOT,
    CLICK,
    FRAUD,
    IMP,
    C,
    T,
    conversions,
    credited,
    roles_of,
    touches,
)

EPS = 1e-6  # hours: a few milliseconds
NO_RECREDIT = EngineConfig(exclude_already_credited=False)

CASES = [
    # (name, touches, conversions, config, expected {conversion: [(touch, credited)]})
    ("click 30 days old is inside", [T(1, 0)], [C(10, 720, 1200)], None, {10: [(1, 1200)]}),
    ("click older than 30 days", [T(1, 0)], [C(10, 720 + EPS, 1200)], None, {}),
    ("impression 24 hours old", [T(1, 0, IMP)], [C(10, 24, 1200)], None, {10: [(1, 1200)]}),
    ("impression older than 24 h", [T(1, 0, IMP)], [C(10, 24 + EPS)], None, {}),
    (
        "old impression dropped, old click kept",
        [T(1, 0, IMP), T(2, 1, CLICK), T(3, 30, IMP)],
        [C(10, 40, 1200)],
        None,
        {10: [(2, 600), (3, 600)]},
    ),
    ("touch at the conversion's ms", [T(1, 5)], [C(10, 5)], None, {}),
    ("touch after the conversion", [T(1, 6)], [C(10, 5)], None, {}),
    ("bot touch", [T(1, 0, flags=BOT), T(2, 1)], [C(10, 2, 1200)], None, {10: [(2, 1200)]}),
    ("fraud touch", [T(1, 0), T(2, 1, flags=FRAUD)], [C(10, 2, 1200)], None, {10: [(1, 1200)]}),
    ("bot and fraud", [T(1, 0, flags=BOT | FRAUD)], [C(10, 2)], None, {}),
    (
        "touch of an earlier conversion is not credited again",
        [T(1, 0), T(2, 2)],
        [C(10, 1, 1200), C(11, 3, 1200)],
        None,
        {10: [(1, 1200)], 11: [(2, 1200)]},
    ),
    (
        "... unless the setting is off",
        [T(1, 0), T(2, 2)],
        [C(10, 1, 1200), C(11, 3, 1200)],
        NO_RECREDIT,
        {10: [(1, 1200)], 11: [(1, 600), (2, 600)]},
    ),
    (
        "conversion with nothing new is unattributed",
        [T(1, 0)],
        [C(10, 1, 1200), C(11, 3, 1200)],
        None,
        {10: [(1, 1200)]},
    ),
    (
        "a flagged touch is not consumed, it stays excluded",
        [T(1, 0, flags=BOT), T(2, 2)],
        [C(10, 1), C(11, 3, 1200)],
        None,
        {11: [(2, 1200)]},
    ),
    (
        "same-ms conversions: the lower id consumes the path",
        [T(1, 0)],
        [C(11, 3, 1200), C(10, 3, 1200)],
        None,
        {10: [(1, 1200)]},
    ),
    (
        "tie: impression then click at the same ms",
        [T(1, 1, CLICK), T(2, 1, IMP)],
        [C(10, 2, 1200)],
        None,
        {10: [(2, 600), (1, 600)]},  # path order: the impression first, the click closes
    ),
    (
        "tie: same ms and kind by touch id",
        [T(9, 1), T(3, 1), T(5, 1)],
        [C(10, 2, 1200)],
        None,
        {10: [(3, 400), (5, 400), (9, 400)]},
    ),
    (
        "identities do not mix",
        [T(1, 0, identity=1), T(2, 0, identity=2)],
        [C(10, 1, 1200, identity=2)],
        None,
        {10: [(2, 1200)]},
    ),
    (
        "advertisers do not mix",
        [T(1, 0, advertiser=1), T(2, 0, advertiser=2)],
        [C(10, 1, 1200, advertiser=1)],
        None,
        {10: [(1, 1200)]},
    ),
    (
        "advertiser window override",
        [T(1, 0), T(2, 0, advertiser=2)],
        [C(10, 48, 1200), C(11, 48, 1200, advertiser=2)],
        EngineConfig(
            windows=LookbackWindows(overrides=(WindowOverride(2, click_ms=24 * 3_600_000),))
        ),
        {10: [(1, 1200)]},
    ),
    (
        "(advertiser, partner) override beats the advertiser's",
        [T(1, 0, partner=5), T(2, 0, partner=6)],
        [C(10, 48, 1200)],
        EngineConfig(
            windows=LookbackWindows(
                overrides=(
                    WindowOverride(1, click_ms=24 * 3_600_000),
                    WindowOverride(1, 5, click_ms=72 * 3_600_000),
                )
            )
        ),
        {10: [(1, 1200)]},
    ),
    (
        "override without an impression window falls through to the default",
        [T(1, 0, IMP, partner=5), T(2, 0, IMP, partner=6)],
        [C(10, 20, 1200)],
        EngineConfig(windows=LookbackWindows(overrides=(WindowOverride(1, 5, click_ms=1),))),
        {10: [(1, 600), (2, 600)]},
    ),
]


@pytest.mark.parametrize(
    ("touch_rows", "conversion_rows", "config", "expected"),
    [pytest.param(t, c, cfg, e, id=name) for name, t, c, cfg, e in CASES],
)
def test_rule(
    touch_rows: list[T],
    conversion_rows: list[C],
    config: EngineConfig | None,
    expected: dict[int, list[tuple[int, int]]],
) -> None:
    credits = attribute(
        touches(*touch_rows), conversions(*conversion_rows), config, (Model.LINEAR,)
    )
    assert credited(credits) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, [Role.SOLE]),
        (2, [Role.INTRODUCER, Role.CLOSER]),
        (3, [Role.INTRODUCER, Role.INFLUENCER, Role.CLOSER]),
        (5, [Role.INTRODUCER, *[Role.INFLUENCER] * 3, Role.CLOSER]),
    ],
)
def test_roles_by_position(n: int, expected: list[Role]) -> None:
    credits = attribute(
        touches(*[T(i + 1, i) for i in range(n)]), conversions(C(10, 100)), None, (Model.LINEAR,)
    )
    assert roles_of(credits, 10) == expected
    assert credits.path_length.tolist() == [n] * n
    assert credits.position.tolist() == list(range(n))


def test_last_and_first_touch_keep_the_role_of_their_position() -> None:
    t, c = touches(T(1, 0), T(2, 1), T(3, 2)), conversions(C(10, 3))
    credits = attribute(t, c, None, (Model.LAST_TOUCH, Model.FIRST_TOUCH))
    rows = {
        (int(m), int(tid)): Role(int(r))
        for m, tid, r in zip(credits.model, credits.touch_id, credits.role, strict=True)
    }
    assert rows == {(Model.LAST_TOUCH, 3): Role.CLOSER, (Model.FIRST_TOUCH, 1): Role.INTRODUCER}


def test_unattributed_conversions_are_counted() -> None:
    result = attribute_batch(
        touches(T(1, 0, flags=BOT), T(2, 0, identity=2)),
        conversions(C(10, 1), C(11, 1, identity=2), C(12, 1, identity=3)),
    )
    assert result.unattributed == 2
    assert set(result.credits.conversion_id.tolist()) == {11}


def test_exact_duplicate_rows_count_once() -> None:
    rows = [T(1, 0), T(2, 1)]
    once = attribute(touches(*rows), conversions(C(10, 2, 1200)), None, (Model.LINEAR,))
    twice = attribute(
        touches(*rows, *rows), conversions(C(10, 2, 1200), C(10, 2, 1200)), None, (Model.LINEAR,)
    )
    assert credited(twice) == credited(once) == {10: [(1, 600), (2, 600)]}


def test_config_is_a_value() -> None:
    config = EngineConfig()
    assert replace(config, exclude_already_credited=False) == NO_RECREDIT

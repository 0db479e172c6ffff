"""Weights and credited revenue of each heuristic model, on hand-built paths."""

from __future__ import annotations

import numpy as np
import pytest

from attribution.columns import Model
from attribution.engine import EngineConfig, attribute
from attribution.errors import ConfigError, UnsupportedModelError
from attribution.models import PositionShares, RoleShares
from tests.attribution.journey_tables import C, T, canonical, conversions, touches

DAY_H = 24


def weights(model: Model, hours: list[float], config: EngineConfig | None = None,
            revenue: int = 1000, advertiser: int = 1) -> tuple[list[float], list[int]]:  # fmt: skip
    """(weights, credited) of one conversion an hour after the last of touches at `hours`."""
    t = touches(*[T(i + 1, h, advertiser=advertiser) for i, h in enumerate(hours)])
    c = conversions(C(10, max(hours) + 1, revenue, advertiser=advertiser))
    credits = canonical(attribute(t, c, config, (model,)))
    return credits.weight.tolist(), credits.credited_revenue.tolist()


@pytest.mark.parametrize(
    ("model", "n", "expected"),
    [
        (Model.LAST_TOUCH, 1, [1.0]),
        (Model.LAST_TOUCH, 3, [1.0]),
        (Model.FIRST_TOUCH, 3, [1.0]),
        (Model.LINEAR, 1, [1.0]),
        (Model.LINEAR, 4, [0.25] * 4),
        (Model.POSITION_BASED, 1, [1.0]),
        (Model.POSITION_BASED, 2, [0.5, 0.5]),
        (Model.POSITION_BASED, 3, [0.4, 0.2, 0.4]),
        (Model.POSITION_BASED, 4, [0.4, 0.1, 0.1, 0.4]),
        (Model.ROLE_WEIGHTS, 1, [1.0]),
        (Model.ROLE_WEIGHTS, 2, [0.375, 0.625]),  # 0.3 / 0.5 renormalised over two roles
        (Model.ROLE_WEIGHTS, 3, [0.3, 0.2, 0.5]),
        (Model.ROLE_WEIGHTS, 4, [0.3, 0.1, 0.1, 0.5]),
        (Model.TIME_DECAY, 1, [1.0]),
    ],
)
def test_weights(model: Model, n: int, expected: list[float]) -> None:
    got, _ = weights(model, [float(i) for i in range(n)])
    assert got == pytest.approx(expected)


def test_last_and_first_touch_pick_the_ends() -> None:
    t = touches(T(1, 0), T(2, 1), T(3, 2))
    c = conversions(C(10, 3))
    assert attribute(t, c, None, (Model.LAST_TOUCH,)).touch_id.tolist() == [3]
    assert attribute(t, c, None, (Model.FIRST_TOUCH,)).touch_id.tolist() == [1]


def test_time_decay_halves_per_half_life() -> None:
    config = EngineConfig(half_life_ms=DAY_H * 3_600_000)
    got, credited = weights(Model.TIME_DECAY, [0, DAY_H, 2 * DAY_H], config, revenue=700)
    assert got == pytest.approx([1 / 7, 2 / 7, 4 / 7])
    assert credited == [100, 200, 400]


def test_time_decay_equal_times_equal_weights() -> None:
    got, _ = weights(Model.TIME_DECAY, [5, 5], EngineConfig())
    assert got == [0.5, 0.5]


def test_time_decay_does_not_underflow_on_long_gaps() -> None:
    config = EngineConfig(half_life_ms=1)
    got, credited = weights(Model.TIME_DECAY, [0, 700], config)  # both inside 30 days
    assert got == [1.0]  # the older touch's weight underflows to 0: no row for it
    assert credited == [1000]


def test_position_shares_are_configurable_and_normalised() -> None:
    config = EngineConfig(position_shares=PositionShares(3, 4, 3))
    assert weights(Model.POSITION_BASED, [0, 1, 2, 3], config)[0] == pytest.approx(
        [0.3, 0.2, 0.2, 0.3]
    )
    assert weights(Model.POSITION_BASED, [0, 1], config)[0] == [0.5, 0.5]


def test_position_based_without_middle_share_credits_the_ends_only() -> None:
    config = EngineConfig(position_shares=PositionShares(0.5, 0, 0.5))
    got, credited = weights(Model.POSITION_BASED, [0, 1, 2], config)
    assert got == [0.5, 0.5]
    assert credited == [500, 500]


def test_role_weights_per_advertiser_contract() -> None:
    config = EngineConfig(role_shares_by_advertiser=((2, RoleShares(0.6, 0.0, 0.4)),))
    assert weights(Model.ROLE_WEIGHTS, [0, 1, 2], config, advertiser=2)[0] == pytest.approx(
        [0.6, 0.4]
    )
    assert weights(Model.ROLE_WEIGHTS, [0, 1, 2], config, advertiser=1)[0] == pytest.approx(
        [0.3, 0.2, 0.5]
    )


def test_role_weights_two_touches_without_end_shares_split_evenly() -> None:
    config = EngineConfig(role_shares=RoleShares(0, 1, 0))
    assert weights(Model.ROLE_WEIGHTS, [0, 1], config)[0] == [0.5, 0.5]
    assert weights(Model.ROLE_WEIGHTS, [0, 1, 2, 3], config)[0] == [0.5, 0.5]


def test_several_models_in_one_pass_equal_separate_runs() -> None:
    t = touches(*[T(i + 1, i * 7.5) for i in range(6)], T(20, 3, identity=2))
    c = conversions(C(10, 50, 999), C(11, 9, 12345, identity=2))
    models = [
        Model.LAST_TOUCH,
        Model.LINEAR,
        Model.TIME_DECAY,
        Model.POSITION_BASED,
        Model.ROLE_WEIGHTS,
        Model.FIRST_TOUCH,
    ]
    together = canonical(attribute(t, c, None, models))
    for model in models:
        alone = canonical(attribute(t, c, None, (model,)))
        part = together.take(together.model == model)
        for name in alone.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(part, name), getattr(alone, name))


@pytest.mark.parametrize("model", [Model.MARKOV, Model.SHAPLEY])
def test_population_models_are_not_heuristic(model: Model) -> None:
    with pytest.raises(UnsupportedModelError):
        attribute(touches(T(1, 0)), conversions(C(10, 1)), None, (model,))


@pytest.mark.parametrize(
    "make",
    [
        lambda: PositionShares(0, 0, 0),
        lambda: PositionShares(-1, 1, 1),
        lambda: RoleShares(float("nan"), 1, 1),
        lambda: EngineConfig(half_life_ms=0),
        lambda: EngineConfig(post_install_ms=-1),
    ],
)
def test_bad_settings_are_refused(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]

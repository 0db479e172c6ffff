"""Explain: the path of one conversion, with roles, weights, credits and exclusion reasons."""

from __future__ import annotations

import json

import pytest

from attribution.columns import Model, Role, TouchKind
from attribution.engine import EngineConfig, attribute_batch
from attribution.errors import UnknownConversionError
from attribution.explain import ExclusionReason, explain
from tests.attribution.journey_tables import BOT, FRAUD, IMP, C, T, conversions, touches


def test_path_roles_weights_and_reasons() -> None:
    t = touches(
        T(1, 0, IMP),  # impression 40 h before: outside its 24 h window
        T(2, 1, flags=BOT),
        T(3, 2, flags=FRAUD),
        T(4, 3),  # led to conversion 9
        T(5, 5),
        T(6, 20, IMP),
        T(7, 25),
        T(8, 50),  # after the conversion: not part of its story
        T(20, 5, identity=2),  # another identity: not part of it either
    )
    c = conversions(C(9, 4, 100), C(10, 40, 1000))
    why = explain(t, c, 10, model=Model.LINEAR)
    assert why.attributed
    assert (why.status, why.revenue) == ("journey", 1000)
    assert [(p.touch_id, p.role, p.position) for p in why.path] == [
        (5, Role.INTRODUCER, 0), (6, Role.INFLUENCER, 1), (7, Role.CLOSER, 2),
    ]  # fmt: skip
    assert [p.credited_revenue for p in why.path] == [334, 333, 333]
    assert sum(p.weight for p in why.path) == pytest.approx(1.0)
    assert [(e.touch_id, e.reason) for e in why.excluded] == [
        (1, ExclusionReason.OUTSIDE_WINDOW),
        (2, ExclusionReason.BOT),
        (3, ExclusionReason.FRAUD),
        (4, ExclusionReason.ALREADY_CREDITED),
    ]


def test_path_touches_without_weight_are_shown_with_zero() -> None:
    why = explain(touches(T(1, 0), T(2, 1)), conversions(C(10, 2, 500)), 10)
    assert [(p.touch_id, p.weight, p.credited_revenue) for p in why.path] == [
        (1, 0.0, 0),
        (2, 1.0, 500),
    ]


def test_explanation_matches_the_engine() -> None:
    t = touches(*[T(i, i * 3.0) for i in range(1, 8)])
    c = conversions(C(10, 30, 777))
    credits = attribute_batch(t, c, None, (Model.TIME_DECAY,)).credits
    why = explain(t, c, 10, model=Model.TIME_DECAY)
    assert [p.credited_revenue for p in why.path] == credits.credited_revenue.tolist()
    assert [p.weight for p in why.path] == credits.weight.tolist()


def test_unattributed_conversion() -> None:
    why = explain(touches(T(1, 0, flags=BOT)), conversions(C(10, 1)), 10)
    assert not why.attributed
    assert why.unattributed_reason == "no_eligible_touch"
    assert why.path == ()
    assert [e.reason for e in why.excluded] == [ExclusionReason.BOT]


def test_install_names_its_winner_and_the_touches_it_passed_over() -> None:
    t = touches(T(1, 0), T(2, 1, IMP), T(3, 2))
    why = explain(t, conversions(C(10, 3, 50, install=True, click_id=1)), 10)
    assert why.status == "install"
    assert [(p.touch_id, p.role, p.credited_revenue) for p in why.path] == [(1, Role.SOLE, 50)]
    assert [(e.touch_id, e.reason) for e in why.excluded] == [
        (2, ExclusionReason.NOT_INSTALL_WINNER),
        (3, ExclusionReason.NOT_INSTALL_WINNER),
    ]


def test_organic_install() -> None:
    why = explain(touches(), conversions(C(10, 3, 0, install=True)), 10)
    assert (why.attributed, why.unattributed_reason) == (False, "organic_install")


def test_inherited_conversion_names_its_install() -> None:
    t = touches(T(1, 0), T(2, 2))
    c = conversions(C(10, 1, 0, install=True), C(11, 3, 700))
    why = explain(t, c, 11)
    assert (why.status, why.inherited_from) == ("inherited", 10)
    assert [(p.touch_id, p.kind, p.credited_revenue) for p in why.path] == [
        (1, TouchKind.CLICK, 700)
    ]


def test_inherited_from_an_install_of_an_earlier_batch() -> None:
    first = attribute_batch(touches(T(1, 0)), conversions(C(10, 1, 0, install=True)))
    why = explain(touches(), conversions(C(11, 3, 700)), 11, prior=first.marks)
    assert why.inherited_from == 10
    assert [(p.touch_id, p.partner_id, p.ts_ms) for p in why.path] == [(1, 101, None)]


def test_inherited_from_an_organic_install() -> None:
    why = explain(touches(), conversions(C(10, 1, 0, install=True), C(11, 3, 700)), 11)
    assert (why.attributed, why.unattributed_reason) == (False, "inherited_organic")


def test_already_credited_only_when_the_setting_is_on() -> None:
    t, c = touches(T(1, 0), T(2, 2)), conversions(C(9, 1), C(10, 3))
    assert [e.reason for e in explain(t, c, 10).excluded] == [ExclusionReason.ALREADY_CREDITED]
    config = EngineConfig(exclude_already_credited=False)
    assert [p.touch_id for p in explain(t, c, 10, config, Model.LINEAR).path] == [1, 2]


def test_as_dict_is_json_ready() -> None:
    why = explain(touches(T(1, 0), T(2, 0.5, flags=BOT)), conversions(C(10, 1, 5)), 10)
    data = json.loads(json.dumps(why.as_dict()))
    assert data["model"] == "last_touch"
    assert (data["path"][0]["role"], data["path"][0]["kind"]) == ("sole", "click")
    assert data["excluded"][0]["reason"] == "bot"


def test_unknown_conversion() -> None:
    with pytest.raises(UnknownConversionError):
        explain(touches(), conversions(C(10, 1)), 11)

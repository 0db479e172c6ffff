from __future__ import annotations

import itertools

from services.simulation.journeys import (
    FLOOD_PARTNER,
    MOBILE_CAMPAIGNS,
    plan_click_floods,
    plan_journeys,
)


def test_click_floods_are_bursts_of_clicks_on_the_app_campaigns_without_installs() -> None:
    floods = plan_click_floods(200, seed=3, span_s=60.0)
    assert len(floods) == 200
    assert len({f.journey_id for f in floods}) == 200
    for flood in floods:
        assert flood.mobile
        assert not flood.bot
        assert flood.advertiser_id == "rocket-app"
        assert 2 <= len(flood.steps) <= 6
        assert {s.kind for s in flood.steps} == {"click"}
        assert {s.partner_id for s in flood.steps} == {FLOOD_PARTNER}
        assert {s.campaign_id for s in flood.steps} <= set(MOBILE_CAMPAIGNS)
        offsets = [s.offset_s for s in flood.steps]
        assert offsets[0] == 0.0
        assert all(0.05 <= b - a <= 1.0 for a, b in itertools.pairwise(offsets))
        assert 0.0 <= flood.start_s <= 60.0


def test_click_floods_are_reproducible_and_leave_the_journey_plans_alone() -> None:
    assert plan_click_floods(20, 7, 10.0) == plan_click_floods(20, 7, 10.0)
    assert plan_click_floods(20, 7, 10.0) != plan_click_floods(20, 8, 10.0)
    assert not any(
        s.partner_id == FLOOD_PARTNER and s.campaign_id in MOBILE_CAMPAIGNS
        for j in plan_journeys(500, 1, 60.0)
        for s in j.steps
    )

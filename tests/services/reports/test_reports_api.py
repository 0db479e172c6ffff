"""Every report over the data set of dataset.py, with the numbers worked out by hand there.

Range: March 2026 (`from=2026-03-01&to=2026-04-01`) unless a test says otherwise.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.services.reports.dataset import ACME_KEY, ROCKET_KEY

MARCH = {"from": "2026-03-01", "to": "2026-04-01"}
REPORTS = (
    "performance",
    "role-mix",
    "model-comparison",
    "overlap",
    "customer-value",
    "time-to-convert",
    "path-length",
    "quality",
)


def get(api: TestClient, report: str, key: str = ACME_KEY, **params: str) -> dict[str, Any]:
    response = api.get(
        f"/v1/reports/{report}",
        params={**MARCH, **params},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["report"] == report
    return body


def records(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


def by(body: dict[str, Any], *keys: str) -> dict[Any, dict[str, Any]]:
    out = {}
    for r in records(body):
        out[r[keys[0]] if len(keys) == 1 else tuple(r[k] for k in keys)] = r
    return out


# ----------------------------------------------------------------------------- performance
def test_performance_per_partner_for_the_month_under_last_touch(api: TestClient) -> None:
    body = get(api, "performance", granularity="month")
    assert body["columns"] == [
        "period", "key", "clicks", "impressions", "installs", "conversions", "revenue",
        "credited_revenue", "payouts",
    ]  # fmt: skip
    assert (body["from"], body["to"], body["model"]) == ("2026-03-01", "2026-04-01", "last_touch")
    rows = by(body, "key")
    assert set(rows) == {"cashback-club", "coupon-hub", "gadget-review-blog", "style-by-mia"}
    assert all(r["period"] == "2026-03-01" for r in rows.values())
    # coupon-hub: clicks of v1, v2 and v4's bot click (v7's is in February); closes O1 + O2.
    assert rows["coupon-hub"] == {
        "period": "2026-03-01", "key": "coupon-hub", "clicks": 3, "impressions": 0,
        "installs": 0, "conversions": 2, "revenue": 7000 + 5001, "credited_revenue": 12001,
        "payouts": 1250 + 1250,
    }  # fmt: skip
    # gadget: O4 (2000) refunded by 500: one conversion, 2000 before and 1500 after refunds.
    gadget = rows["gadget-review-blog"]
    assert (gadget["clicks"], gadget["conversions"]) == (2, 1)
    assert (gadget["revenue"], gadget["credited_revenue"], gadget["payouts"]) == (2000, 1500, 232)
    mia = rows["style-by-mia"]
    assert (mia["clicks"], mia["impressions"], mia["conversions"], mia["payouts"]) == (2, 1, 0, 224)
    assert rows["cashback-club"]["clicks"] == 3  # v3, v5 and v6's flagged click
    assert rows["cashback-club"]["credited_revenue"] == 3000


def test_performance_conversions_are_fractional_under_linear(api: TestClient) -> None:
    rows = by(get(api, "performance", granularity="month", model="linear"), "key")
    # O1 counts 1/3 for each of its three partners; O3 1/2 for mia and cashback.
    assert rows["style-by-mia"]["conversions"] == pytest.approx(1 / 3 + 1 / 2, abs=1e-6)
    assert rows["coupon-hub"]["conversions"] == pytest.approx(1 / 3 + 1, abs=1e-6)
    assert rows["style-by-mia"]["credited_revenue"] == 2334 + 1500
    assert rows["gadget-review-blog"]["credited_revenue"] == 2333 + 2000 - 500


def test_performance_per_day_and_per_week(api: TestClient) -> None:
    days = by(get(api, "performance", granularity="day"), "period", "key")
    assert days[("2026-03-10", "coupon-hub")]["clicks"] == 1
    assert days[("2026-03-10", "coupon-hub")]["credited_revenue"] == 7000
    assert days[("2026-03-10", "coupon-hub")]["payouts"] == 1250
    assert days[("2026-03-11", "coupon-hub")]["credited_revenue"] == 5001
    assert days[("2026-03-14", "gadget-review-blog")]["credited_revenue"] == 1500
    assert days[("2026-03-16", "cashback-club")]["clicks"] == 1
    weeks = by(get(api, "performance", granularity="week"), "period", "key")
    # Weeks start on Monday: March 9 (10th..15th) and March 16.
    assert {p for p, _ in weeks} == {"2026-03-09", "2026-03-16"}
    assert weeks[("2026-03-09", "cashback-club")]["clicks"] == 2
    assert weeks[("2026-03-16", "cashback-club")]["clicks"] == 1


def test_performance_per_partner_type_and_per_campaign(api: TestClient) -> None:
    types = by(get(api, "performance", granularity="month", group_by="partner_type"), "key")
    assert set(types) == {"affiliate", "content", "influencer"}
    affiliate = types["affiliate"]
    assert (affiliate["clicks"], affiliate["conversions"]) == (6, 3)
    assert (affiliate["credited_revenue"], affiliate["payouts"]) == (15001, 2500)
    campaigns = get(api, "performance", granularity="month", group_by="campaign")
    rows = by(campaigns, "key")
    assert rows["acme-summer-sale"]["clicks"] == 9
    assert rows["acme-newsletter"]["clicks"] == 1
    assert rows["acme-newsletter"]["impressions"] == 1
    assert sum(r["credited_revenue"] for r in rows.values()) == 16501
    assert sum(r["payouts"] for r in rows.values()) == 2500 + 232 + 224


def test_performance_filters_and_date_range(api: TestClient) -> None:
    only = get(api, "performance", granularity="month", partner_id="coupon-hub")
    assert [r[1] for r in only["rows"]] == ["coupon-hub"]
    influencers = get(api, "performance", granularity="month", partner_type="influencer")
    assert [r[1] for r in influencers["rows"]] == ["style-by-mia"]
    with_february = by(
        get(api, "performance", granularity="month", **{"from": "2026-02-01"}), "period", "key"
    )
    assert with_february[("2026-02-01", "coupon-hub")]["clicks"] == 1
    late = get(api, "performance", **{"from": "2026-03-17", "to": "2026-03-31"})
    assert late["rows"] == []


def test_default_range_is_the_last_30_days_from_the_clock(api: TestClient) -> None:
    response = api.get("/v1/reports/path-length", headers={"authorization": f"Bearer {ACME_KEY}"})
    body = response.json()
    # The clock says 2026-03-31 12:00 UTC: today is included, `to` is exclusive.
    assert (body["from"], body["to"]) == ("2026-03-02", "2026-04-01")
    assert body["rows"] == [[1, 2], [2, 1], [3, 1]]


# ----------------------------------------------------------------------------- role mix
def test_role_mix_under_linear_counts_sole_as_introducer_and_closer(api: TestClient) -> None:
    body = get(api, "role-mix", model="linear")
    assert body["columns"] == [
        "partner_id", "introducer_count", "influencer_count", "closer_count",
        "introducer_revenue", "influencer_revenue", "closer_revenue",
    ]  # fmt: skip
    rows = {r[0]: r[1:] for r in body["rows"]}
    assert rows == {
        # introducer of O1 (2334) and O3 (1500)
        "style-by-mia": [2, 0, 0, 3834, 0, 0],
        # influencer of O1 (2333); sole of O4, net 1500, split 750 / 750
        "gadget-review-blog": [1, 1, 1, 750, 2333, 750],
        # closer of O1 (2333); sole of O2 (5001: 2501 introducer, 2500 closer)
        "coupon-hub": [1, 0, 2, 2501, 0, 2333 + 2500],
        "cashback-club": [0, 0, 1, 0, 0, 1500],
    }


def test_role_mix_under_last_touch_sees_closers_and_soles_only(api: TestClient) -> None:
    rows = {r[0]: r[1:] for r in get(api, "role-mix")["rows"]}
    assert rows == {
        "cashback-club": [0, 0, 1, 0, 0, 3000],
        "coupon-hub": [1, 0, 2, 2501, 0, 7000 + 2500],
        "gadget-review-blog": [1, 0, 1, 750, 0, 750],
    }


# ---------------------------------------------------------------------- model comparison
def test_model_comparison_heuristic_models(api: TestClient) -> None:
    body = get(api, "model-comparison")
    assert body["columns"][:8] == [
        "partner_id", "last_touch", "first_touch", "linear", "time_decay", "position_based",
        "markov", "shapley",
    ]  # fmt: skip
    rows = by(body, "partner_id")
    expected = {
        #                     last   first  linear decay position roles
        "coupon-hub":         (12001, 5001, 7334, 9001, 7801, 8501),
        "style-by-mia":       (0, 10000, 3834, 1003, 4300, 3225),
        "gadget-review-blog": (1500, 1500, 3833, 3500, 2900, 2900),
        "cashback-club":      (3000, 0, 1500, 2997, 1500, 1875),
    }  # fmt: skip
    models = ("last_touch", "first_touch", "linear", "time_decay", "position_based", "role_weights")
    for partner, values in expected.items():
        assert tuple(rows[partner][m] for m in models) == values, partner
    for model in models:  # every model credits all of the (net) revenue
        assert sum(r[model] for r in rows.values()) == 16501
    assert rows["cashback-club"]["last_touch_delta_pct"] == -50.0
    assert rows["coupon-hub"]["last_touch_delta_pct"] == round(100 * (7334 - 12001) / 12001, 2)
    assert rows["gadget-review-blog"]["last_touch_delta_pct"] == round(100 * 2333 / 1500, 2)
    assert rows["style-by-mia"]["last_touch_delta_pct"] is None  # no last-touch credit
    assert body["last_touch_delta_pct"]["cashback-club"] == -50.0


def test_model_comparison_markov_and_shapley_from_the_population(api: TestClient) -> None:
    """Journeys: [mia, gadget, coupon] 7000, [coupon] 5001, [mia, cashback] 3000,
    [gadget] 1500 (net of the refund), and v5's [mia, cashback] not converting.

    Markov (order 1): P(conv) = 4/5; removing mia, gadget or coupon leaves 2/5 (effect 1/2),
    removing cashback leaves 3/5 (effect 1/4): shares 2/7, 2/7, 2/7, 1/7 of 16501.
    Shapley (value): each journey's value split over its partners: mia 7000/3 + 1500,
    gadget 7000/3 + 1500, coupon 7000/3 + 5001, cashback 1500.
    """
    body = get(api, "model-comparison")
    rows = by(body, "partner_id")
    markov = {"style-by-mia": 2 / 7, "gadget-review-blog": 2 / 7, "coupon-hub": 2 / 7,
              "cashback-club": 1 / 7}  # fmt: skip
    shapley = {"style-by-mia": 7000 / 3 + 1500, "gadget-review-blog": 7000 / 3 + 1500,
               "coupon-hub": 7000 / 3 + 5001, "cashback-club": 1500}  # fmt: skip
    for partner, share in markov.items():
        assert abs(rows[partner]["markov"] - 16501 * share) < 1
        assert abs(rows[partner]["shapley"] - shapley[partner]) < 1
    assert sum(r["markov"] for r in rows.values()) == 16501
    assert sum(r["shapley"] for r in rows.values()) == 16501
    population = body["population"]
    assert (population["journeys"], population["converting_journeys"]) == (5, 4)
    assert population["markov_conversion_probability"] == pytest.approx(0.8)
    filtered = get(api, "model-comparison", partner_id="cashback-club")
    assert [r[0] for r in filtered["rows"]] == ["cashback-club"]
    assert filtered["rows"][0][6] == rows["cashback-club"]["markov"]  # same population


# ----------------------------------------------------------------------------- overlap
def test_overlap_shares_of_customers(api: TestClient) -> None:
    """Customers (clean touches): mia v1 v3 v5, gadget v1 v4, coupon v1 v2 (v4's click is a
    bot), cashback v3 v5 (v6's click is flagged)."""
    body = get(api, "overlap")
    partners = ["cashback-club", "coupon-hub", "gadget-review-blog", "style-by-mia"]
    assert body["partners"] == partners
    assert body["matrix"] == [
        [None, 0.0, 0.0, 1.0],
        [0.0, None, 0.5, 0.5],
        [0.0, 0.5, None, 0.5],
        [round(2 / 3, 6), round(1 / 3, 6), round(1 / 3, 6), None],
    ]
    assert body["customers"] == {
        "cashback-club": 2, "coupon-hub": 2, "gadget-review-blog": 2, "style-by-mia": 3,
    }  # fmt: skip
    rows = by(body, "partner_a", "partner_b")
    assert rows[("style-by-mia", "cashback-club")] == {
        "partner_a": "style-by-mia", "partner_b": "cashback-club", "customers_a": 3,
        "shared": 2, "share": round(2 / 3, 6),
    }  # fmt: skip
    assert ("cashback-club", "coupon-hub") not in rows  # no shared customer: matrix only
    only = get(api, "overlap", partner_id="coupon-hub")
    assert {r[0] for r in only["rows"]} == {"coupon-hub"}


# ------------------------------------------------------------------------ customer value
def test_customer_value_by_introducer_under_first_touch(api: TestClient) -> None:
    """First conversions: v1 O1 (mia introduced; then O5 +4 days, O6 +20 days), v2 O2
    (coupon, sole), v3 O3 (mia), v4 O4 (gadget, sole; revenue is gross)."""
    body = get(api, "customer-value", model="first_touch")
    rows = {r[0]: r[1:] for r in body["rows"]}
    assert rows == {
        "style-by-mia": [2, 8000 + 3000, 8500 + 3000, 8500 + 3000, 5500.0, 5750.0, 5750.0],
        "coupon-hub": [1, 5001, 5001, 5001, 5001.0, 5001.0, 5001.0],
        "gadget-review-blog": [1, 2000, 2000, 2000, 2000.0, 2000.0, 2000.0],
    }


def test_customer_value_without_an_introducer_credit(api: TestClient) -> None:
    """Under last_touch only one-touch journeys have an introducer (sole) credit: the others
    are grouped under '' unless a filter asks for a partner."""
    rows = {r[0]: r[1] for r in get(api, "customer-value")["rows"]}
    assert rows == {"": 2, "coupon-hub": 1, "gadget-review-blog": 1}
    filtered = get(api, "customer-value", partner_id="coupon-hub")
    assert [r[0] for r in filtered["rows"]] == ["coupon-hub"]


# ----------------------------------------------------------------- time and path length
def test_time_to_convert_buckets(api: TestClient) -> None:
    """O1 3 h after mia's click, O2 30 min, O3 20 h after the impression, O4 exactly 1 h."""
    body = get(api, "time-to-convert")
    assert body["rows"] == [
        ["<1h", 1], ["1-6h", 2], ["6-24h", 1], ["1-3d", 0], ["3-7d", 0], ["7-14d", 0],
        ["14-30d", 0], [">30d", 0],
    ]  # fmt: skip
    closed_by_coupon = get(api, "time-to-convert", partner_id="coupon-hub")
    assert [n for _, n in closed_by_coupon["rows"]][:3] == [1, 1, 0]


def test_path_length(api: TestClient) -> None:
    assert get(api, "path-length")["rows"] == [[1, 2], [2, 1], [3, 1]]
    assert get(api, "path-length", partner_id="style-by-mia", model="linear")["rows"] == [
        [2, 1],
        [3, 1],
    ]


# ----------------------------------------------------------------------------- quality
def test_quality_shares_and_rejected_counts(api: TestClient) -> None:
    body = get(api, "quality")
    rows = {r[0]: r[1:] for r in body["rows"]}
    no_installs = [0.0, 0.0, None, ""]  # credited, flagged, flagged share, reasons
    assert rows == {
        "cashback-club": [3, 0.0, round(1 / 3, 6), None, None, None, 0, *no_installs],
        "coupon-hub": [3, round(1 / 3, 6), 0.0, None, None, None, 0, *no_installs],
        "gadget-review-blog": [2, 0.0, 0.0, None, None, None, 0, *no_installs],
        "style-by-mia": [2, 0.0, 0.0, None, None, None, 0, *no_installs],
    }
    assert body["flagged_installs"] == []
    # February's dead letter is outside the range; rocket's and the anonymous one are not ours.
    assert body["rejected"] == [
        {"reason": "invalid_event", "count": 2},
        {"reason": "click_id_tampered", "count": 1},
    ]


def test_quality_ctit_percentiles_and_histogram(api: TestClient) -> None:
    """CTITs 5, 30, 120 (from click_ts), 600, 3600 s; linear interpolation between ranks:
    p10 = 5 + 0.4 * 25 = 15, p50 = 120, p90 = 600 + 0.6 * 3000 = 2400."""
    body = get(api, "quality", key=ROCKET_KEY)
    rows = {r[0]: r[1:] for r in body["rows"]}
    assert rows["mobidream"] == [5, 0.0, 0.0, 15.0, 120.0, 2400.0, 5, 5.0, 0.0, 0.0, ""]
    histogram = body["ctit_histogram"]
    assert histogram["buckets"] == [0, 10, 60, 300, 1800, 3600, 21600, 86400]
    assert histogram["partners"]["mobidream"] == [1, 1, 1, 1, 0, 1, 0, 0]
    assert histogram["partners"]["floodnet"] == [0, 0, 0, 0, 0, 0, 0, 5]  # all over a day
    assert body["rejected"] == [{"reason": "invalid_event", "count": 1}]


def test_quality_counts_flagged_installs_apart_with_their_reason(api: TestClient) -> None:
    """floodnet (dataset.py): 60 clicks, five installs with CTITs of 30, 50, 70, 40 and 80
    hours; the last two were won while it was flooding: flagged, not credited for pay."""
    body = get(api, "quality", key=ROCKET_KEY)
    assert [r["partner_id"] for r in records(body)] == ["floodnet", "mobidream"]
    flood = by(body, "partner_id")["floodnet"]
    hours = 3600
    assert flood == {
        "partner_id": "floodnet", "clicks": 60, "bot_share": 0.0, "flagged_share": 0.0,
        "ctit_p10": 34.0 * hours, "ctit_p50": 50.0 * hours, "ctit_p90": 76.0 * hours,
        "installs": 5, "credited_installs": 3.0, "flagged_installs": 2.0,
        "flagged_install_share": 0.4, "flag_reasons": "click_flooding",
    }  # fmt: skip
    assert body["flagged_installs"] == [
        {"install_id": "rocket-f4-install", "installed_at": "2026-03-25T08:02:00Z",
         "partner_id": "floodnet", "reasons": ["click_flooding"]},
        {"install_id": "rocket-f3-install", "installed_at": "2026-03-23T16:01:30Z",
         "partner_id": "floodnet", "reasons": ["click_flooding"]},
    ]  # fmt: skip
    # Installs by conversion day: from March 24, f1 and f2 were credited and f4 flagged.
    later = by(get(api, "quality", key=ROCKET_KEY, **{"from": "2026-03-24"}), "partner_id")
    assert later["floodnet"]["credited_installs"] == 2.0
    assert later["floodnet"]["flagged_installs"] == 1.0
    assert later["floodnet"]["flagged_install_share"] == round(1 / 3, 6)
    # The filters apply: another partner has nothing flagged.
    mobidream = get(api, "quality", key=ROCKET_KEY, partner_id="mobidream")
    assert [r[0] for r in mobidream["rows"]] == ["mobidream"]
    assert mobidream["flagged_installs"] == []


def test_flagged_credits_are_left_out_of_the_credited_figures(api: TestClient) -> None:
    """floodnet's flagged installs and the purchase of 400 credited from a flagged touch
    count in no credited figure: not in performance, role mix, model comparison (Markov and
    Shapley included) nor as an introducer in customer value."""
    performance = by(get(api, "performance", key=ROCKET_KEY, granularity="month"), "key")
    assert performance["floodnet"] == {
        "period": "2026-03-01", "key": "floodnet", "clicks": 60, "impressions": 0,
        "installs": 3.0, "conversions": 0.0, "revenue": 0, "credited_revenue": 0,
        "payouts": 0,
    }  # fmt: skip
    for model in ("last_touch", "linear"):
        roles = by(get(api, "role-mix", key=ROCKET_KEY, model=model), "partner_id")
        # three credited installs, each a one-touch journey (sole: introducer and closer)
        assert (roles["floodnet"]["introducer_count"], roles["floodnet"]["closer_count"]) == (3, 3)
        assert roles["floodnet"]["closer_revenue"] == roles["floodnet"]["introducer_revenue"] == 0
    models = by(get(api, "model-comparison", key=ROCKET_KEY), "partner_id")
    assert models["floodnet"]["linear"] == models["floodnet"]["last_touch"] == 0
    assert models["floodnet"]["shapley"] == 0
    assert models["mobidream"]["shapley"] == models["mobidream"]["last_touch"] == 999
    value = by(get(api, "customer-value", key=ROCKET_KEY), "introducer_partner_id")
    assert (value["mobidream"]["customers"], value["mobidream"]["revenue_7d"]) == (1, 999)
    assert (value[""]["customers"], value[""]["revenue_7d"]) == (1, 400)  # introduced by none


# ---------------------------------------------------------------- isolation and formats
def test_another_advertisers_data_is_invisible(api: TestClient) -> None:
    rocket = get(api, "performance", key=ROCKET_KEY, granularity="month")
    assert rocket["rows"] == [
        ["2026-03-01", "floodnet", 60, 0, 3, 0, 0, 0, 0],
        ["2026-03-01", "mobidream", 5, 0, 5, 1, 999, 999, 900],
    ]
    for report in REPORTS:
        acme = get(api, report)
        cells = {str(c) for row in acme["rows"] for c in row}
        assert "mobidream" not in cells, report
    assert get(api, "overlap", key=ROCKET_KEY)["partners"] == ["floodnet", "mobidream"]


@pytest.mark.parametrize("report", REPORTS)
def test_csv_holds_the_same_columns_and_rows_as_json(api: TestClient, report: str) -> None:
    extra = {"model": "linear"} if report in ("role-mix", "customer-value") else {}
    body = get(api, report, **extra)
    response = api.get(
        f"/v1/reports/{report}",
        params={**MARCH, **extra, "format": "csv", "key": ACME_KEY},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == body["columns"]
    assert body["rows"], "the data set should give every report some rows"

    def text(value: Any) -> str:
        return "" if value is None else repr(value) if isinstance(value, float) else str(value)

    assert table[1:] == [[text(v) for v in row] for row in body["rows"]]

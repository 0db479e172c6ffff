"""GET /v1/conversions/{id}/explain over the data set of dataset.py."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.services.reports.dataset import ACME_KEY, ROCKET_KEY


def explain(api: TestClient, conversion_id: str, key: str = ACME_KEY, **params: str) -> Any:
    return api.get(
        f"/v1/conversions/{conversion_id}/explain",
        params=params,
        headers={"authorization": f"Bearer {key}"},
    )


def test_explain_a_refunded_conversion_with_a_bot_touch_left_out(api: TestClient) -> None:
    body = explain(api, "acme-conv-O4").json()
    conversion = body["conversion"]
    assert conversion["conversion_id"] == "acme-conv-O4"
    assert (conversion["ts"], conversion["revenue"], conversion["order_id"]) == (
        "2026-03-14T02:00:00.000Z", 2000, "O4",
    )  # fmt: skip
    assert (conversion["status"], conversion["attributed"]) == ("journey", True)
    assert body["path"] == [
        {
            "touch_id": "acme-v4-click-gadget", "partner_id": "gadget-review-blog",
            "type": "click", "ts": "2026-03-14T01:00:00.000Z", "position": 0, "role": "sole",
            "weight": 1.0, "credited_revenue": 1500, "reversed_revenue": -500,
            "fraud_flags": [], "model": "last_touch", "stored": True,
        }
    ]  # fmt: skip
    assert body["excluded"] == [
        {
            "touch_id": "acme-v4-bot-coupon", "partner_id": "coupon-hub", "type": "click",
            "ts": "2026-03-14T00:00:00.000Z", "reason": "bot",
        }
    ]  # fmt: skip
    assert body["payouts"] == [
        {"partner_id": "gadget-review-blog", "payout_type": "revshare", "amount": 160 - 40,
         "currency": "EUR", "contract_id": "acme-content-revshare"}
    ]  # fmt: skip
    assert {c["model"] for c in body["credits"]} == {
        "last_touch", "first_touch", "linear", "time_decay", "position_based", "role_weights",
    }  # fmt: skip


def test_explain_roles_and_weights_under_linear_and_time_decay(api: TestClient) -> None:
    linear = explain(api, "acme-conv-O1", model="linear").json()["path"]
    assert [(t["partner_id"], t["role"], t["credited_revenue"]) for t in linear] == [
        ("style-by-mia", "introducer", 2334),
        ("gadget-review-blog", "influencer", 2333),
        ("coupon-hub", "closer", 2333),
    ]
    assert [t["weight"] for t in linear] == pytest.approx([1 / 3] * 3)
    decay = explain(api, "acme-conv-O1", model="time_decay").json()["path"]
    # half-life one hour, touches 2 h, 1 h and 0 h before the last: 1 : 2 : 4
    assert [t["weight"] for t in decay] == pytest.approx([1 / 7, 2 / 7, 4 / 7])
    assert [t["credited_revenue"] for t in decay] == [1000, 2000, 4000]
    last = explain(api, "acme-conv-O1").json()["path"]
    assert [(t["touch_id"], t["weight"]) for t in last] == [
        ("acme-v1-click-mia", 0.0), ("acme-v1-click-gadget", 0.0),
        ("acme-v1-click-coupon", 1.0),
    ]  # fmt: skip


def test_explain_an_unattributed_repeat_purchase(api: TestClient) -> None:
    body = explain(api, "acme-conv-O5").json()
    assert body["conversion"]["attributed"] is False
    assert body["conversion"]["unattributed_reason"] == "no_eligible_touch"
    assert body["path"] == []
    assert {t["reason"] for t in body["excluded"]} == {"already_credited"}
    assert body["credits"] == body["payouts"] == []


def test_explain_an_inherited_in_app_purchase(api: TestClient) -> None:
    body = explain(api, "rocket-d1-purchase", key=ROCKET_KEY).json()
    assert body["conversion"]["status"] == "inherited"
    assert body["conversion"]["inherited_from"] == "rocket-d1-install"
    assert [(t["partner_id"], t["role"], t["credited_revenue"]) for t in body["path"]] == [
        ("mobidream", "sole", 999)
    ]


def test_explain_a_flagged_install_shows_its_flag_under_every_model(api: TestClient) -> None:
    """floodnet won rocket-f3-install while flooding (dataset.py): its credit is recorded with
    the flag under every model, and nothing was paid for it."""
    body = explain(api, "rocket-f3-install", key=ROCKET_KEY).json()
    assert [(t["partner_id"], t["fraud_flags"], t["stored"]) for t in body["path"]] == [
        ("floodnet", ["click_flooding"], True)
    ]
    assert {(c["model"], tuple(c["fraud_flags"])) for c in body["credits"]} == {
        (m, ("click_flooding",)) for m in (
            "last_touch", "first_touch", "linear", "time_decay", "position_based",
            "role_weights",
        )
    }  # fmt: skip
    assert body["payouts"] == []
    clean = explain(api, "rocket-f0-install", key=ROCKET_KEY).json()
    assert [(t["partner_id"], t["fraud_flags"]) for t in clean["path"]] == [("floodnet", [])]


@pytest.mark.parametrize(
    ("conversion_id", "key"),
    [
        ("no-such-conversion", ACME_KEY),
        ("rocket-d1-purchase", ACME_KEY),  # another advertiser's conversion
        ("acme-conv-O1", ROCKET_KEY),
        ("acme-v1-click-mia", ACME_KEY),  # a click is not a conversion
    ],
)
def test_unknown_or_foreign_conversion_is_404(
    api: TestClient, conversion_id: str, key: str
) -> None:
    response = explain(api, conversion_id, key=key)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_conversion"

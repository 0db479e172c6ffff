"""`POST /v1/conversions` and `POST /v1/conversions/{order_id}/reverse`: advertiser servers."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from services.bus.memory_bus import MemoryProducer
from services.settings import CollectorSettings
from tests.services.collector.conftest import ACME_KEY, keys, sent
from tracker.postbacks import postback_signature

ACME_TOKEN = "dev-acme-generic-postback-token"  # acme-shop's `generic` postback source
ROCKET_SECRET = b"dev-rocket-generic-hmac-secret"  # rocket-app's, allowed from 203.0.113.0/24
ACME = {"authorization": f"Bearer {ACME_TOKEN}"}
TS = "2026-11-23T09:59:00Z"


def conversion(**extra: object) -> dict[str, object]:
    return {
        "ts": TS,
        "event_name": "purchase",
        "revenue": 4999,
        "currency": "EUR",
        "customer_id": "cust-1",
        **extra,
    }


def rocket_headers(body: bytes, ip: str = "203.0.113.7") -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-forwarded-for": ip,
        "X-Partnerstream-Signature": postback_signature(ROCKET_SECRET, {}, body),
    }


@pytest.fixture
def settings() -> CollectorSettings:
    return CollectorSettings(
        rate_limit_per_second=1000, rate_limit_burst=1000, trust_forwarded_for=True
    )


# --- batches -----------------------------------------------------------------------------------


def test_batch_with_per_item_results(client: TestClient, producer: MemoryProducer) -> None:
    r = client.get("/c/coupon-hub/acme-summer-sale")
    click_id = parse_qs(urlsplit(r.headers["location"]).query)["clickid"][0]
    body = {
        "events": [
            conversion(order_id="A-1", click_id=click_id),
            conversion(order_id="A-2", revenue=-5),
            {
                "type": "click",
                "ts": TS,
                "partner_id": "coupon-hub",
                "campaign_id": "acme-summer-sale",
            },
            {
                "type": "reversal",
                "ts": TS,
                "order_id": "A-0",
                "amount": 1000,
                "currency": "EUR",
                "reason": "returned",
            },
            conversion(order_id="A-3", click_id="forged"),
            "not an object",
        ]
    }
    r = client.post("/v1/conversions", json=body, headers=ACME)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["accepted"] == 2
    assert [(x["index"], x["error"]) for x in data["rejected"]] == [
        (1, "invalid_event"),
        (2, "invalid_event"),
        (4, "click_id_malformed"),
        (5, "invalid_event"),
    ]
    assert "not accepted here" in data["rejected"][1]["detail"]
    converted, reversal = sent(producer)[1:]
    assert data["event_ids"] == [converted["event_id"], reversal["event_id"]]
    assert (converted["type"], converted["order_id"], converted["advertiser_id"]) == (
        "conversion",
        "A-1",
        "acme-shop",
    )
    assert converted["context"]["source"] == "s2s"
    assert converted["visitor_id"] == sent(producer)[0]["visitor_id"]  # the click's partition
    assert (reversal["type"], reversal["amount"], reversal["reason"]) == (
        "reversal",
        1000,
        "returned",
    )
    assert [x["reason"] for x in sent(producer, "events.dlq.v1")] == [
        "invalid_event",
        "invalid_event",
        "invalid_event",
        "click_id_malformed",
    ]


def test_a_retried_batch_keeps_its_event_ids(client: TestClient, producer: MemoryProducer) -> None:
    body = {"events": [conversion(order_id="A-1"), conversion(transaction_id="tx-9"), conversion()]}
    first = client.post("/v1/conversions", json=body, headers=ACME).json()["event_ids"]
    again = client.post("/v1/conversions", json=body, headers=ACME).json()["event_ids"]
    assert first[:2] == again[:2]
    assert first[2] != again[2]  # neither order nor transaction id: nothing to dedup on
    other = client.post("/v1/conversions", json=[conversion(order_id="A-2")], headers=ACME)
    assert other.json()["event_ids"][0] not in first


def test_hmac_signed_batch_from_the_allowlist(client: TestClient, producer: MemoryProducer) -> None:
    body = orjson.dumps({"events": [conversion(currency="USD", device_id="dev-1")]})
    r = client.post("/v1/conversions", content=body, headers=rocket_headers(body))
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert sent(producer)[0]["advertiser_id"] == "rocket-app"
    assert keys(producer) == [b"d:dev-1"]


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "postback_auth_failed"),  # neither token nor signature
        ({"authorization": f"Bearer {ACME_KEY}"}, 401, "postback_auth_failed"),  # a write key
        ({"authorization": "Bearer dev-acme-generic-postback-tokeN"}, 401, "postback_auth_failed"),
        # rocket's good signature from outside its allowlist: refused by both advertisers
        # for different reasons, so the answer names neither
        (
            {"x-forwarded-for": "198.51.100.1", "X-Partnerstream-Signature": "PLACEHOLDER"},
            401,
            "postback_auth_failed",
        ),
        (
            {"x-forwarded-for": "203.0.113.7", "X-Partnerstream-Signature": "ab" * 32},
            401,
            "postback_auth_failed",
        ),
    ],
)
def test_auth_failures_store_nothing(
    client: TestClient,
    producer: MemoryProducer,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    body = orjson.dumps([conversion()])
    if headers.get("X-Partnerstream-Signature") == "PLACEHOLDER":
        headers = headers | {
            "X-Partnerstream-Signature": postback_signature(ROCKET_SECRET, {}, body)
        }
    with caplog.at_level(logging.WARNING, logger="partnerstream.collector"):
        r = client.post(
            "/v1/conversions", content=body, headers={"content-type": "application/json", **headers}
        )
        reversal = client.post("/v1/conversions/A-1/reverse", content=body, headers=headers)
    assert (r.status_code, r.json()["error"]) == (status, reason)
    assert reversal.status_code == status
    assert sent(producer) == []
    assert sent(producer, "events.dlq.v1") == []
    assert [rec.getMessage() for rec in caplog.records].count("postback_auth_failed") == 2
    assert all("dev-acme" not in str(rec.__dict__) for rec in caplog.records)


def test_malformed_batch_is_400_and_dead_lettered(
    client: TestClient, producer: MemoryProducer
) -> None:
    r = client.post("/v1/conversions", content=b"{nope", headers=ACME)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_json")
    [letter] = sent(producer, "events.dlq.v1")
    assert (letter["reason"], letter["advertiser_id"], letter["raw"]) == (
        "invalid_json",
        "acme-shop",
        "{nope",
    )


# --- reversals ---------------------------------------------------------------------------------


def test_reversal_of_a_known_order(client: TestClient, producer: MemoryProducer) -> None:
    client.post("/v1/conversions", json=[conversion(order_id="A-7")], headers=ACME)
    r = client.post(
        "/v1/conversions/A-7/reverse",
        headers=ACME,
        json={"amount": 1500, "reason": "returned", "customer_id": "cust-1"},
    )
    assert r.status_code == 202, r.text
    _order, reversal = sent(producer)
    assert reversal["event_id"] == r.json()["event_id"]
    assert (
        reversal["type"],
        reversal["order_id"],
        reversal["amount"],
        reversal["currency"],
        reversal["reason"],
    ) == ("reversal", "A-7", 1500, "EUR", "returned")
    assert reversal["advertiser_id"] == "acme-shop"
    assert reversal["ts"].startswith("2026-11-23T10:00:00")
    assert keys(producer) == [b"c:cust-1", b"c:cust-1"]  # the order's partition


def test_reversal_of_an_unknown_order_is_recorded_for_later(
    client: TestClient, producer: MemoryProducer
) -> None:
    r = client.post("/v1/conversions/never-seen/reverse", headers=ACME)  # no body: all of it
    assert r.status_code == 202
    [reversal] = sent(producer)
    assert (reversal["order_id"], reversal["reason"]) == ("never-seen", "other")
    assert "amount" not in reversal
    assert "currency" not in reversal


def test_reversal_retries_count_once(client: TestClient, producer: MemoryProducer) -> None:
    body = {"amount": 100, "currency": "USD", "reason": "modified"}
    a = client.post("/v1/conversions/A-1/reverse", json=body, headers=ACME).json()["event_id"]
    b = client.post("/v1/conversions/A-1/reverse", json=body, headers=ACME).json()["event_id"]
    c = client.post(
        "/v1/conversions/A-1/reverse", json=body | {"reversal_id": "second"}, headers=ACME
    ).json()["event_id"]
    d = client.post(
        "/v1/conversions/A-1/reverse", json=body, headers=ACME | {"idempotency-key": "k-1"}
    ).json()["event_id"]
    e = client.post("/v1/conversions/A-2/reverse", json=body, headers=ACME).json()["event_id"]
    assert a == b
    assert len({a, c, d, e}) == 4


def test_reversal_signed_by_a_server(client: TestClient, producer: MemoryProducer) -> None:
    body = orjson.dumps({"reason": "cancelled", "device_id": "dev-9"})
    r = client.post("/v1/conversions/R-1/reverse", content=body, headers=rocket_headers(body))
    assert r.status_code == 202
    [reversal] = sent(producer)
    assert (reversal["advertiser_id"], reversal["reason"]) == ("rocket-app", "cancelled")
    assert keys(producer) == [b"d:dev-9"]


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/v1/conversions/A-1/reverse", {"reason": "changed my mind"}, "invalid_event"),
        ("/v1/conversions/A-1/reverse", {"amount": -1}, "invalid_event"),
        ("/v1/conversions/A-1/reverse", {"surprise": 1}, "invalid_event"),
        ("/v1/conversions/A-1/reverse", [1, 2], "invalid_event"),
        ("/v1/conversions/A-1/reverse", {"click_id": "forged"}, "click_id_malformed"),
        (f"/v1/conversions/{'x' * 129}/reverse", {}, "invalid_event"),
    ],
)
def test_bad_reversals_are_400_and_dead_lettered(
    client: TestClient, producer: MemoryProducer, path: str, body: Any, reason: str
) -> None:
    r = client.post(path, json=body, headers=ACME)
    assert (r.status_code, r.json()["error"]) == (400, reason)
    assert sent(producer) == []
    [letter] = sent(producer, "events.dlq.v1")
    assert (letter["reason"], letter["endpoint"]) == (reason, "/v1/conversions/reverse")

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from services.bus.memory_bus import MemoryProducer
from tests.services.collector.conftest import ACME_KEY, sent


def click_id_for(client: TestClient) -> tuple[str, str]:
    r = client.get("/c/coupon-hub/acme-summer-sale")
    return parse_qs(urlsplit(r.headers["location"]).query)["clickid"][0], r.cookies["ps_vid"]


def assert_gif(r: object) -> None:
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "image/gif"  # type: ignore[attr-defined]
    assert "no-store" in r.headers["cache-control"]  # type: ignore[attr-defined]
    assert r.content.startswith(b"GIF89a")  # type: ignore[attr-defined]


def test_conversion_pixel_records_a_conversion_linked_to_the_click(
    client: TestClient, producer: MemoryProducer
) -> None:
    click_id, visitor = click_id_for(client)
    r = client.get(
        "/p.gif",
        params={
            "key": ACME_KEY,
            "event": "purchase",
            "order_id": "A-1",
            "amount": "49.99",
            "currency": "EUR",
            "clickid": click_id,
        },
    )
    assert_gif(r)
    assert "x-partnerstream-rejected" not in r.headers
    conversion = sent(producer)[-1]
    assert conversion["type"] == "conversion"
    assert (conversion["event_name"], conversion["order_id"]) == ("purchase", "A-1")
    assert (conversion["revenue"], conversion["currency"]) == (4999, "EUR")
    assert conversion["visitor_id"] == visitor  # from the signed click id: same partition
    assert conversion["click_event_id"] == sent(producer)[0]["event_id"]
    assert conversion["advertiser_id"] == "acme-shop"
    assert producer.records["events.v1"][-1][0] == f"v:{visitor}".encode()


def test_click_id_from_the_first_party_cookie(client: TestClient, producer: MemoryProducer) -> None:
    click_id, visitor = click_id_for(client)
    client.cookies.set("ps_clickid", click_id)
    r = client.get("/p.gif", params={"key": ACME_KEY, "event": "signup"})
    assert_gif(r)
    assert sent(producer)[-1]["visitor_id"] == visitor


def test_zero_decimal_currency_amount(client: TestClient, producer: MemoryProducer) -> None:
    client.get("/p.gif", params={"key": ACME_KEY, "amount": "1200", "currency": "JPY"})
    assert sent(producer)[-1]["revenue"] == 1200


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda c: c[:-2] + ("AA" if c[-2:] != "AA" else "BB"), "click_id_tampered"),
        (lambda c: c[:20], "click_id_malformed"),
        (lambda c: "x" * 59, "click_id_malformed"),
    ],
)
def test_forged_or_tampered_click_id_is_dead_lettered_not_credited(
    client: TestClient, producer: MemoryProducer, mutate: object, reason: str
) -> None:
    click_id, _ = click_id_for(client)
    forged = mutate(click_id)  # type: ignore[operator]
    r = client.get(
        "/p.gif", params={"key": ACME_KEY, "event": "purchase", "amount": "10", "clickid": forged}
    )
    assert_gif(r)
    assert r.headers["x-partnerstream-rejected"] in {
        reason,
        "click_id_tampered",
        "click_id_malformed",
    }
    assert [e["type"] for e in sent(producer)] == ["click"]  # no conversion
    [letter] = sent(producer, "events.dlq.v1")
    assert letter["reason"] == r.headers["x-partnerstream-rejected"]
    assert letter["endpoint"] == "/p.gif"
    assert forged in letter["raw"]


def test_click_id_signed_with_another_secret_is_refused(
    client: TestClient, producer: MemoryProducer
) -> None:
    import uuid

    from tracker.click_ids import SecretRing, mint_click_id

    other = SecretRing.parse("1:an-attacker-guessed-secret-value")
    forged = mint_click_id(other, uuid.uuid4(), 1_795_427_000_000, b"12345678")
    r = client.get("/p.gif", params={"key": ACME_KEY, "clickid": forged})
    assert r.headers["x-partnerstream-rejected"] == "click_id_tampered"
    assert sent(producer) == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"event": "purchase"}, "write_key_missing"),
        ({"key": "not-a-real-key-at-all", "event": "purchase"}, "write_key_unknown"),
        ({"key": ACME_KEY, "amount": "12,50"}, "invalid_event"),
        ({"key": ACME_KEY, "amount": "-5"}, "invalid_event"),
        ({"key": ACME_KEY, "amount": "5", "currency": "EURO"}, "invalid_event"),
        ({"key": ACME_KEY, "event": "Big Purchase!"}, "invalid_event"),
    ],
)
def test_bad_pixel_input_answers_gif_and_is_dead_lettered_with_reason(
    client: TestClient, producer: MemoryProducer, params: dict[str, str], reason: str
) -> None:
    r = client.get("/p.gif", params=params)
    assert_gif(r)
    assert r.headers["x-partnerstream-rejected"] == reason
    assert sent(producer) == []
    [letter] = sent(producer, "events.dlq.v1")
    assert letter["reason"] == reason
    assert letter["detail"]


def test_snippet_is_served(client: TestClient) -> None:
    r = client.get("/ps.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert b"sendBeacon" in r.content

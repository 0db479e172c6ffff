from __future__ import annotations

import itertools
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from fastapi.testclient import TestClient

from loadtests.bench_sdk import batch_body
from services.bus.memory_bus import MemoryProducer
from services.clock import FixedClock
from services.collector.app import create_app
from services.settings import CollectorSettings
from tests.services.collector.conftest import ACME_KEY, NOW_MS, ROCKET_KEY, sent
from tracker.click_ids import mint_click_id
from tracker.registry import Registry

TS = "2026-11-23T09:59:00Z"
AUTH = {"authorization": f"Bearer {ACME_KEY}"}


def conversion(**extra: object) -> dict[str, object]:
    return {
        "type": "conversion",
        "ts": TS,
        "event_name": "purchase",
        "revenue": 1000,
        "currency": "EUR",
        "customer_id": "cust-1",
        **extra,
    }


def test_batch_with_bearer_key_is_accepted(client: TestClient, producer: MemoryProducer) -> None:
    body = {"events": [conversion(order_id="A1"), conversion(order_id="A2")]}
    r = client.post("/v1/events", json=body, headers=AUTH)
    assert r.status_code == 200
    data = r.json()
    assert (data["accepted"], data["rejected"]) == (2, [])
    events = sent(producer)
    assert [e["order_id"] for e in events] == ["A1", "A2"]
    assert all(e["advertiser_id"] == "acme-shop" for e in events)
    assert all(e["context"]["source"] == "sdk" for e in events)
    assert [e["event_id"] for e in events] == data["event_ids"]
    assert all(e["received_at"].startswith("2026-11-23T10:00:00") for e in events)


def test_valid_events_are_kept_when_others_are_invalid(
    client: TestClient, producer: MemoryProducer
) -> None:
    body = {
        "write_key": ACME_KEY,
        "events": [
            conversion(order_id="ok-1"),
            conversion(revenue=-3),
            {"type": "reversal", "ts": TS, "order_id": "ok-1"},
            "not an object",
            conversion(order_id="ok-2", click_id="forged-click-id"),
            conversion(order_id="ok-3"),
        ],
    }
    r = client.post("/v1/events", json=body)
    assert r.status_code == 200
    data = r.json()
    assert data["accepted"] == 2
    assert [(x["index"], x["error"]) for x in data["rejected"]] == [
        (1, "invalid_event"),
        (2, "invalid_event"),
        (3, "invalid_event"),
        (4, "click_id_malformed"),
    ]
    assert "revenue" in data["rejected"][0]["detail"]
    assert [e["order_id"] for e in sent(producer)] == ["ok-1", "ok-3"]
    letters = sent(producer, "events.dlq.v1")
    assert [x["reason"] for x in letters] == [
        "invalid_event",
        "invalid_event",
        "invalid_event",
        "click_id_malformed",
    ]
    assert orjson.loads(letters[0]["raw"])["revenue"] == -3


def test_send_beacon_text_plain_body_is_accepted(
    client: TestClient, producer: MemoryProducer
) -> None:
    body = orjson.dumps({"write_key": ACME_KEY, "events": [conversion()]})
    r = client.post(
        "/v1/events", content=body, headers={"content-type": "text/plain;charset=UTF-8"}
    )
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert len(sent(producer)) == 1


def test_conversion_with_click_id_takes_the_visitor_of_the_click(
    client: TestClient, producer: MemoryProducer
) -> None:
    r = client.get("/c/coupon-hub/acme-summer-sale")
    click_id = parse_qs(urlsplit(r.headers["location"]).query)["clickid"][0]
    visitor = r.cookies["ps_vid"]
    client.post("/v1/events", json={"events": [conversion(click_id=click_id)]}, headers=AUTH)
    key, value = producer.records["events.v1"][-1]
    assert orjson.loads(value)["visitor_id"] == visitor
    assert key == producer.records["events.v1"][0][0]  # same key as the click


@pytest.mark.parametrize(
    ("content", "headers", "status", "reason"),
    [
        (b"{not json", AUTH, 400, "invalid_json"),
        (b'{"events": {"a": 1}}', AUTH, 400, "invalid_batch"),
        (b'"events"', AUTH, 400, "invalid_batch"),
        (orjson.dumps({"events": []}), {}, 401, "write_key_missing"),
        (
            orjson.dumps({"events": []}),
            {"authorization": "Bearer nope-nope-nope-nope"},
            401,
            "write_key_unknown",
        ),
        (
            orjson.dumps({"events": [], "write_key": "wrong-key-wrong-key"}),
            {},
            401,
            "write_key_unknown",
        ),
    ],
)
def test_bad_requests_get_status_and_reason(
    client: TestClient,
    producer: MemoryProducer,
    content: bytes,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    r = client.post(
        "/v1/events", content=content, headers={"content-type": "application/json", **headers}
    )
    assert r.status_code == status
    assert r.json()["error"] == reason
    assert r.json()["detail"]
    assert sent(producer) == []


def test_request_over_the_limit_is_413(client: TestClient, producer: MemoryProducer) -> None:
    big = {"events": [conversion(sub1="x" * 250) for _ in range(3000)]}
    r = client.post("/v1/events", json=big, headers=AUTH)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"
    assert sent(producer) == []


def test_event_over_the_limit_is_rejected_alone(
    registry: Registry, producer: MemoryProducer, clock: FixedClock
) -> None:
    settings = CollectorSettings(max_event_bytes=4096)
    app = create_app(settings, registry=registry, producer=producer, clock=clock)
    oversize = conversion(
        context={"page_url": "p" * 2000, "referrer": "r" * 2000, "user_agent": "u" * 1000}
    )
    with TestClient(app) as c:
        r = c.post(
            "/v1/events", json={"events": [conversion(order_id="small"), oversize]}, headers=AUTH
        )
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert [(x["index"], x["error"]) for x in r.json()["rejected"]] == [(1, "payload_too_large")]
    assert [e["order_id"] for e in sent(producer)] == ["small"]
    assert sent(producer, "events.dlq.v1")[0]["reason"] == "payload_too_large"


def test_rate_limited_key_gets_429_with_retry_after(registry: Registry, clock: FixedClock) -> None:
    producer = MemoryProducer()
    settings = CollectorSettings(rate_limit_per_second=10, rate_limit_burst=5)
    app = create_app(settings, registry=registry, producer=producer, clock=clock)
    with TestClient(app) as c:
        ok = c.post("/v1/events", json={"events": [conversion()] * 5}, headers=AUTH)
        assert ok.status_code == 200
        limited = c.post("/v1/events", json={"events": [conversion()]}, headers=AUTH)
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        other = c.post(
            "/v1/events",
            json={"events": [conversion()]},
            headers={"authorization": f"Bearer {ROCKET_KEY}"},
        )
        assert other.status_code == 200  # limits are per key
        clock.advance(1.0)
        assert (
            c.post("/v1/events", json={"events": [conversion()]}, headers=AUTH).status_code == 200
        )
    assert len(sent(producer)) == 7


def test_cors_preflight_and_origin_allowlist(client: TestClient, producer: MemoryProducer) -> None:
    pre = client.options(
        "/v1/events",
        headers={"origin": "https://shop.example.com", "access-control-request-method": "POST"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert client.options("/v1/events", headers={"origin": "https://evil.test"}).status_code == 403

    ok = client.post(
        "/v1/events",
        json={"events": [conversion()]},
        headers={**AUTH, "origin": "https://shop.example.com"},
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://shop.example.com"
    # rocket's origin is known, but not for acme's key
    wrong = client.post(
        "/v1/events",
        json={"events": [conversion()]},
        headers={**AUTH, "origin": "https://rocket.example.net"},
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"] == "origin_not_allowed"
    assert len(sent(producer)) == 1


def test_metrics_count_accepted_and_rejected(client: TestClient) -> None:
    client.post("/v1/events", json={"events": [conversion(), conversion(revenue=-1)]}, headers=AUTH)
    text = client.get("/metrics").text
    assert 'partnerstream_events_accepted_total{source="sdk",type="conversion"} 1.0' in text
    assert 'partnerstream_events_rejected_total{reason="invalid_event"} 1.0' in text
    assert 'partnerstream_http_requests_total{route="/v1/events",status="200"} 1.0' in text


def test_health_ready_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    spec = client.get("/openapi.json").json()
    assert "/v1/events" in spec["paths"]
    assert "/c/{partner_id}/{campaign_id}" in spec["paths"]
    assert client.get("/docs").status_code == 200


def _sdk_batch_app(registry: Registry, fast_items: bool) -> tuple[TestClient, MemoryProducer, Any]:
    producer = MemoryProducer()
    settings = CollectorSettings(rate_limit_per_second=1000, rate_limit_burst=1000)
    app = create_app(settings, registry=registry, producer=producer, clock=FixedClock(NOW_MS))
    intake = app.state.deps.intake
    numbers = itertools.count()
    intake.new_id = lambda: f"server-id-{next(numbers):04d}"
    intake.fast_items = fast_items
    return TestClient(app, base_url="https://collector.test"), producer, app.state.deps


def _mixed_batch(deps: Any) -> list[object]:
    """The benchmark's batch, SDK conversions, and items on every side of the fast path."""
    click_id = mint_click_id(deps.click_secrets, uuid.UUID(int=7), NOW_MS - 60_000, bytes(range(8)))
    plain: list[object] = orjson.loads(batch_body(20))["events"]
    return [
        *plain,
        conversion(order_id="js-1", ts=NOW_MS - 5, event_id=str(uuid.UUID(int=9))),
        conversion(order_id="js-2", click_id=click_id, ts="2026-11-23T09:59:00.5+01:00"),
        conversion(order_id=" padded "),  # pydantic strips it: the pydantic path
        conversion(revenue=12.0),  # coerced by pydantic: the pydantic path
        conversion(revenue=-3),  # refused
        conversion(click_id=click_id[:-2] + "AA"),  # refused by verification
        {"type": "click", "ts": TS, "partner_id": "coupon-hub"},  # no campaign: refused
        {"type": "reversal", "ts": TS, "order_id": "A1"},  # server-only: refused
        {
            "type": "impression",
            "ts": TS,
            "partner_id": "coupon-hub",
            "campaign_id": "c",
            "context": {"user_agent": "Googlebot/2.1", "fraud_flags": ["dc_ip"]},
        },
        [1, 2],
    ]


def test_fast_path_items_give_the_same_records_answers_and_dead_letters(
    registry: Registry,
) -> None:
    """The fast canonicaliser on and off: byte-identical events, dead letters, answer, metrics."""
    runs = []
    for fast in (True, False):
        client, producer, deps = _sdk_batch_app(registry, fast)
        with client:
            headers = {**AUTH, "user-agent": "Mozilla/5.0 (X11; Linux) Firefox/133.0"}
            answer = client.post("/v1/events", json={"events": _mixed_batch(deps)}, headers=headers)
            metrics = [
                line
                for line in client.get("/metrics").text.splitlines()
                if line.startswith(
                    ("partnerstream_events_accepted_total", "partnerstream_events_rejected_total")
                )
            ]
        runs.append((answer.json(), dict(producer.records), metrics))
    fast_run, pydantic_run = runs
    assert fast_run == pydantic_run
    answer, records, _ = fast_run
    assert answer["accepted"] == 25
    assert [r["index"] for r in answer["rejected"]] == [24, 25, 26, 27, 29]
    assert len(records["events.v1"]) == 25


def test_an_item_whose_type_is_not_a_string_is_refused_alone(
    client: TestClient, producer: MemoryProducer
) -> None:
    body = {"events": [{"type": ["click"], "ts": TS}, conversion(order_id="ok")]}
    r = client.post("/v1/events", json=body, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["accepted"] == 1
    assert [(x["index"], x["error"]) for x in r.json()["rejected"]] == [(0, "invalid_event")]
    assert [e["order_id"] for e in sent(producer)] == ["ok"]

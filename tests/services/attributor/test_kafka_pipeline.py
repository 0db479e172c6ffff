"""Kafka mode end to end (issue 6): clicks and conversions posted to the collector, produced
to the real broker, consumed by the attributor and credited in ClickHouse.

The collector is `create_app` with the production producer (`producer_for`: a
`SpoolingProducer` over Kafka); the attributor is built from `AttributorSettings` with
`consumer_for` (a `KafkaConsumerBus`) and a `ClickHouseSink` on this test's database. Both
run in this process, which owns the embedded store.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from services.attributor.factory import build_attributor
from services.attributor.sink import ClickHouseSink
from services.bus.kafka_bus import ensure_topics
from services.buses import consumer_for, producer_for
from services.clock import FixedClock
from services.collector.app import create_app
from services.settings import AttributorSettings, CollectorSettings, load
from tests.services.kafka_broker import REPO, eventually, fully_committed, running, unique_name
from tracker.registry import load_registry

pytestmark = pytest.mark.kafka

T0 = 1_795_428_000_000  # 2026-11-23T10:00:00Z
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
ACME_KEY = "dev-acme-write-key"
AUTH = {"authorization": f"Bearer {ACME_KEY}"}


async def click(http: httpx.AsyncClient, partner: str) -> str:
    r = await http.get(f"/c/{partner}/acme-summer-sale")
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["clickid"][0]


async def post_traffic(http: httpx.AsyncClient, clock: FixedClock) -> None:
    """Two journeys and one bad event.

    A-100: three clicks an hour apart, then a 100.01 EUR purchase from the SDK.
    P-2: one click, then a 49.99 EUR purchase from the conversion pixel.
    """
    await click(http, "style-by-mia")
    clock.advance(3600)
    await click(http, "gadget-review-blog")
    clock.advance(3600)
    last = await click(http, "coupon-hub")
    clock.advance(600)
    purchase = {
        "type": "conversion",
        "ts": T0 + 7_800_000,
        "event_name": "purchase",
        "order_id": "A-100",
        "revenue": 10001,
        "currency": "EUR",
        "click_id": last,
    }
    r = await http.post("/v1/events", headers=AUTH, json={"events": [purchase, {"type": "x"}]})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert [x["error"] for x in r.json()["rejected"]] == ["invalid_event"]

    http.cookies.clear()  # another person
    clock.advance(3600)
    only = await click(http, "cashback-club")
    clock.advance(300)
    r = await http.get(
        "/p.gif",
        params={
            "key": ACME_KEY,
            "event": "purchase",
            "order_id": "P-2",
            "amount": "49.99",
            "currency": "EUR",
            "clickid": only,
        },
    )
    assert r.status_code == 200
    assert "x-partnerstream-rejected" not in r.headers


@pytest.mark.timeout(120)
async def test_posted_clicks_and_conversions_become_credits_in_clickhouse(
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ch_client: Client,
) -> None:
    topic, group = unique_name("events"), unique_name("attributor")
    dlq = f"{topic}.dlq"
    for name, value in {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PARTNERSTREAM_DATA_DIR": str(tmp_path),
        "PARTNERSTREAM_EVENTS_TOPIC": topic,
        "PARTNERSTREAM_DLQ_TOPIC": dlq,
        "PARTNERSTREAM_CONSUMER_GROUP": group,
        "PARTNERSTREAM_TOPIC_PARTITIONS": "4",
        "PARTNERSTREAM_BATCH_MAX_MS": "50",
        "PARTNERSTREAM_MODELS": '["last_touch", "linear", "position_based"]',
    }.items():
        monkeypatch.setenv(name, value)
    collector_settings = load(CollectorSettings)
    attributor_settings = load(AttributorSettings)
    await ensure_topics(kafka_bootstrap, {topic: 4, dlq: 4})
    clock = FixedClock(T0)

    app = create_app(
        collector_settings,
        registry=load_registry(REPO / "deploy" / "registry.example.yaml"),
        producer=producer_for(collector_settings, "partnerstream-collector"),
        clock=clock,
    )
    async with (
        running(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="https://collector.test",
            headers={"user-agent": BROWSER},
        ) as http,
    ):
        await post_traffic(http, clock)

    consumer = consumer_for(attributor_settings, [topic, dlq], attributor_settings.consumer_group)
    attributor = build_attributor(attributor_settings, consumer, ClickHouseSink(ch_client), clock)
    task = asyncio.create_task(attributor.run(), name="attributor")
    try:

        async def consumed() -> bool:
            return await fully_committed(kafka_bootstrap, group, topic) and await fully_committed(
                kafka_bootstrap, group, dlq
            )

        # Offsets are committed only after the writes: committed everything = wrote everything.
        await eventually(
            consumed, within_s=60, what="the attributor committed both topics", watch=[task]
        )
    finally:
        attributor.stop()
        await asyncio.wait_for(task, timeout=30)

    rows = ch_client.query(
        "SELECT order_id, model, partner_id, role, credited_revenue, partner_type, kafka_topic "
        "FROM attribution_credits ORDER BY order_id, model, position"
    ).result_rows
    assert rows == [
        ("A-100", "last_touch", "coupon-hub", "closer", 10001, "affiliate", topic),
        ("A-100", "linear", "style-by-mia", "introducer", 3334, "influencer", topic),
        ("A-100", "linear", "gadget-review-blog", "influencer", 3334, "content", topic),
        ("A-100", "linear", "coupon-hub", "closer", 3333, "affiliate", topic),
        ("A-100", "position_based", "style-by-mia", "introducer", 4001, "influencer", topic),
        ("A-100", "position_based", "gadget-review-blog", "influencer", 2000, "content", topic),
        ("A-100", "position_based", "coupon-hub", "closer", 4000, "affiliate", topic),
        ("P-2", "last_touch", "cashback-club", "sole", 4999, "affiliate", topic),
        ("P-2", "linear", "cashback-club", "sole", 4999, "affiliate", topic),
        ("P-2", "position_based", "cashback-club", "sole", 4999, "affiliate", topic),
    ]
    sums = ch_client.query(
        "SELECT order_id, model, sum(credited_revenue), round(sum(weight), 9) "
        "FROM attribution_credits GROUP BY order_id, model ORDER BY order_id, model"
    ).result_rows
    assert [(o, total, w) for o, _, total, w in sums] == [("A-100", 10001, 1)] * 3 + [
        ("P-2", 4999, 1)
    ] * 3
    # The credits name the conversion's own Kafka position, read back from the events table.
    [(joined,)] = ch_client.query(
        "SELECT count() FROM attribution_credits AS c INNER JOIN events AS e "
        "ON e.event_id = c.conversion_id AND e.kafka_topic = c.kafka_topic "
        "AND e.kafka_partition = c.kafka_partition AND e.kafka_offset = c.kafka_offset"
    ).result_rows
    assert joined == len(rows)
    assert ch_client.query(
        "SELECT type, count(), uniqExact(event_id) FROM events GROUP BY type ORDER BY type"
    ).result_rows == [("click", 4, 4), ("conversion", 2, 2)]
    assert ch_client.query("SELECT reason FROM rejected_events").result_rows == [("invalid_event",)]
    batches = attributor.metrics.registry.get_sample_value("partnerstream_attributor_batches_total")
    assert batches is not None
    assert batches >= 1

"""Embedded mode end to end: collector -> local durable bus -> attributor -> chDB."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from attribution.columns import Model
from attribution.contracts import load_contracts
from services.attributor.service import Attributor, AttributorConfig
from services.attributor.sink import ClickHouseSink
from services.bus.local_bus import LocalBus
from services.bus.local_log import LocalLog
from services.bus.records import TopicPartition
from services.clock import FixedClock
from services.collector.app import create_app
from services.settings import CollectorSettings
from tracker.registry import load_registry

REPO = Path(__file__).resolve().parents[3]
T0 = 1_795_428_000_000
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
KEY = {"authorization": "Bearer dev-acme-write-key"}


async def wait_for(
    predicate: Callable[[], bool], task: asyncio.Task[None], within_s: float = 20.0
) -> None:
    """Poll until `predicate()`; surface the background task's exception if it died."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        if task.done():
            task.result()
            raise AssertionError("the attributor stopped early")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def click(client: httpx.AsyncClient, partner: str) -> str:
    r = await client.get(f"/c/{partner}/acme-summer-sale")
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["clickid"][0]


@pytest.mark.timeout(120)
async def test_clicks_and_conversion_become_credits_with_roles(
    tmp_path: Path, ch_client: Client
) -> None:
    log = LocalLog(tmp_path / "bus", default_partitions=4)
    bus = LocalBus(log)
    await bus.start()
    clock = FixedClock(T0)
    registry = load_registry(REPO / "deploy" / "registry.example.yaml")
    app = create_app(
        CollectorSettings(), registry=registry, producer=bus, clock=clock, manage_producer=False
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="https://collector.test",
        headers={"user-agent": BROWSER},
    ) as client:
        await click(client, "style-by-mia")
        clock.advance(3600)
        await click(client, "gadget-review-blog")
        clock.advance(3600)
        last = await click(client, "coupon-hub")
        clock.advance(600)
        r = await client.post(
            "/v1/events",
            headers=KEY,
            json={
                "events": [
                    {
                        "type": "conversion",
                        "ts": T0 + 7_800_000,
                        "event_name": "purchase",
                        "order_id": "A-100",
                        "revenue": 10001,
                        "currency": "EUR",
                        "click_id": last,
                    },
                ]
            },
        )
        assert r.json()["accepted"] == 1
        bad = await client.post("/v1/events", headers=KEY, json={"events": [{"type": "nope"}]})
        assert bad.json()["rejected"]

    await bus.send_batch("events.v1", [(b"v:x", b"{not json")])  # refused by the attributor
    consumer = bus.consumer(["events.v1", "events.dlq.v1"], "attributor")
    models = (Model.LAST_TOUCH, Model.LINEAR, Model.POSITION_BASED, Model.FIRST_TOUCH)
    config = AttributorConfig(models=models, batch_max_ms=50)
    attributor = Attributor(
        consumer,
        ClickHouseSink(ch_client),
        clock,
        config,
        partner_types={p.id: p.partner_type for p in registry.partners.values()},
        contracts=load_contracts(registry.contracts),
        dlq_producer=bus,
    )
    task = asyncio.create_task(attributor.run())

    def credits() -> int:
        return int(ch_client.query("SELECT count() FROM attribution_credits").result_rows[0][0])

    def rejected() -> int:
        return int(ch_client.query("SELECT count() FROM rejected_events").result_rows[0][0])

    await wait_for(lambda: credits() >= 8, task)
    await wait_for(lambda: rejected() == 2, task)
    assert attributor.metrics.lag.labels("events.v1")._value.get() == 0
    attributor.stop()
    await task
    await bus.stop()

    rows = ch_client.query(
        "SELECT model, partner_id, role, credited_revenue, partner_type FROM attribution_credits "
        "ORDER BY model, position"
    ).result_rows
    assert rows == [
        ("first_touch", "style-by-mia", "introducer", 10001, "influencer"),
        ("last_touch", "coupon-hub", "closer", 10001, "affiliate"),
        ("linear", "style-by-mia", "introducer", 3334, "influencer"),
        ("linear", "gadget-review-blog", "influencer", 3334, "content"),
        ("linear", "coupon-hub", "closer", 3333, "affiliate"),
        # largest remainder: 4000.4 / 2000.2 / 4000.4 -> the tie goes to the first position
        ("position_based", "style-by-mia", "introducer", 4001, "influencer"),
        ("position_based", "gadget-review-blog", "influencer", 2000, "content"),
        ("position_based", "coupon-hub", "closer", 4000, "affiliate"),
    ]
    campaigns = ch_client.query("SELECT DISTINCT campaign_id FROM attribution_credits")
    assert campaigns.result_rows == [("acme-summer-sale",)]  # the credited touches' campaign
    totals = ch_client.query(
        "SELECT model, sum(credited_revenue), round(sum(weight), 9) FROM attribution_credits "
        "GROUP BY model"
    ).result_rows
    assert all(total == 10001 and weight == 1 for _, total, weight in totals)
    assert ch_client.query("SELECT count(), uniqExact(event_id) FROM events").result_rows == [
        (4, 4)
    ]
    reasons = ch_client.query(
        "SELECT endpoint, reason FROM rejected_events ORDER BY endpoint"
    ).result_rows
    assert reasons == [("/v1/events", "invalid_event"), ("attributor:decode", "undecodable_record")]
    # the refused record was also published to the DLQ topic, and not stored a second time
    # when the attributor read its own copy back
    await log.open()
    copies = [
        r for p in range(4) for r in await log.read(TopicPartition("events.dlq.v1", p), 0, 100)
    ]
    await log.close()
    assert sum(b"attributor:decode" in r.value for r in copies) == 1

    # Payouts under deploy/registry.example.yaml's contracts, by hand (revenue 100.01 EUR):
    # coupon-hub, affiliate v2: CPA 12.50 split by role weights, its closer share 0.5 -> 625
    # style-by-mia, influencer: 5 % of its linear credit 3334 -> 166.7 -> 167, bonus 150
    # gadget-review-blog, content: 8 % of its position-based credit 2000 -> 160; bonus 100
    #   (its role, influencer, is one of the bonus roles)
    payouts = ch_client.query(
        "SELECT partner_id, payout_type, amount, contract_id, contract_version, currency "
        "FROM payouts ORDER BY partner_id, payout_type"
    ).result_rows
    assert payouts == [
        ("coupon-hub", "cpa", 625, "acme-affiliates", 2, "EUR"),
        ("gadget-review-blog", "bonus", 100, "acme-content-revshare", 1, "EUR"),
        ("gadget-review-blog", "revshare", 160, "acme-content-revshare", 1, "EUR"),
        ("style-by-mia", "bonus", 150, "acme-influencers", 1, "EUR"),
        ("style-by-mia", "revshare", 167, "acme-influencers", 1, "EUR"),
    ]

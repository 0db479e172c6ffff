"""The load generator's schedule (pure) and its requests against the real collector app."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
import orjson

from loadtests.load_generator import (
    Item,
    LoadConfig,
    LoadGenerator,
    accepted_events,
    journey_items,
    percentile,
    schedule,
)
from services.bus.memory_bus import MemoryProducer
from services.collector.app import create_app
from services.settings import CollectorSettings
from services.simulation.journeys import Journey, Step
from tests.services.collector.conftest import REPO
from tracker.registry import load_registry


def test_the_schedule_holds_rate_times_duration_events_due_in_order() -> None:
    items = schedule(rate=200, duration_s=30, seed=4)
    assert 200 * 30 * 0.9 <= len(items) <= 200 * 30 * 1.05
    dues = [i.due_s for i in items]
    assert dues == sorted(dues)
    assert dues[0] >= 0
    assert dues[-1] < 30
    per_second = Counter(int(d) for d in dues)
    assert max(per_second.values()) < 3 * 200  # steady, no burst at the start
    assert {i.channel for i in items} == {"sdk", "s2s", "postback"}
    assert schedule(rate=200, duration_s=30, seed=4) == items


def test_a_web_journey_is_one_visitor_and_its_steps_keep_their_order() -> None:
    steps = (Step("click", 0.0, "coupon-hub", "acme-summer-sale"),
             Step("impression", 600.0, "style-by-mia", "acme-summer-sale"),
             Step("conversion", 900.0, event_name="purchase", revenue=1999, order_id="o-1"),
             Step("reversal", 4500.0, order_id="o-1", reversed_amount=500))  # fmt: skip
    journey = Journey("j1", "acme-shop", False, False, "Mozilla/5.0", 2.0, steps, "EUR")
    items = journey_items(journey, seed=1, now_s=0)
    assert [(i.channel, i.kind) for i in items] == [
        ("sdk", "click"), ("sdk", "impression"), ("sdk", "conversion"), ("s2s", "reversal"),
    ]  # fmt: skip
    assert len({i.event["visitor_id"] for i in items}) == 1
    assert [i.due_s for i in items] == [2.0, 2.5, 2.8, 3.3]  # gaps compressed, 0.5 s at most
    assert items[2].event["revenue"] == 1999
    assert items[3].event | {"visitor_id": ""} == {
        "type": "reversal", "order_id": "o-1", "reason": "returned", "amount": 500,
        "currency": "EUR", "visitor_id": "",
    }  # fmt: skip


def test_a_mobile_journey_clicks_by_sdk_and_installs_by_postback_on_one_device() -> None:
    steps = (Step("click", 0.0, "mobidream", "rocket-android-install"),
             Step("install", 45.0, "mobidream", "rocket-android-install", event_name="install"),
             Step("in_app", 600.0, event_name="registration"))  # fmt: skip
    journey = Journey("j2", "rocket-app", True, False, "Mozilla/5.0", 0.0, steps, "USD")
    click, install, registration = journey_items(journey, seed=1, now_s=0)
    device = click.event["device_id"]
    assert "visitor_id" not in click.event
    assert install.postback is not None
    assert registration.postback is not None
    assert install.postback.device_id == registration.postback.device_id == device
    assert install.postback.app.app_id == "net.example.rocket"
    assert install.postback.event_name is None
    assert registration.postback.event_name == "registration"


def test_helpers() -> None:
    assert percentile([], 50) != percentile([], 50)  # NaN
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([float(i) for i in range(101)], 99) == 99.0
    metrics = (
        '# HELP partnerstream_events_accepted_total events accepted\n'
        'partnerstream_events_accepted_total{source="sdk",type="click"} 40.0\n'
        'partnerstream_events_accepted_total{source="mmp",type="install"} 2.0\n'
        'partnerstream_events_accepted_created{source="sdk",type="click"} 1.7e9\n'
    )  # fmt: skip
    assert accepted_events(metrics) == 42.0


async def test_every_request_of_the_load_is_accepted_by_the_collector() -> None:
    producer = MemoryProducer()
    await producer.start()
    app = create_app(
        CollectorSettings(trust_forwarded_for=True, rate_limit_per_second=1e6),
        registry=load_registry(REPO / "deploy" / "registry.example.yaml"),
        producer=producer,
    )
    config = LoadConfig(target="http://127.0.0.1:8000", rate=300, duration_s=1.5)
    items: list[Item] = schedule(config.rate, config.duration_s, config.seed)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=config.target,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        headers={"user-agent": ""},
    ) as client:  # fmt: skip
        outcome = await LoadGenerator(client, config).run(items)
    report = outcome.report()
    assert report["error_count"] == 0, report["errors"]
    assert report["events_sent"] == report["events_accepted"] == len(items)
    on_bus = [orjson.loads(v) for _, v in producer.records["events.v1"]]
    assert len(on_bus) == len(items)
    assert producer.records["events.dlq.v1"] == []
    by_type: dict[str, set[str]] = defaultdict(set)
    for event in on_bus:
        by_type[event["type"]].add(event["context"]["source"])
    assert by_type["click"] == {"sdk"}
    assert by_type["install"] == {"mmp"}
    assert "s2s" in by_type["reversal"] or not any(i.kind == "reversal" for i in items)
    bots = [e for e in on_bus if e["type"] == "click" and e["context"]["is_bot"]]
    assert bots
    assert len(bots) < len([e for e in on_bus if e["type"] == "click"]) / 2


async def test_a_server_that_falls_behind_makes_the_generator_skip_and_say_so() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        if request.url.path == "/v1/events":
            count = len(orjson.loads(request.content)["events"])
            return httpx.Response(200, json={"accepted": count, "rejected": []})
        return httpx.Response(200, json={"status": "accepted"})

    config = LoadConfig(target="http://127.0.0.1:8000", rate=400, duration_s=0.6,
                        concurrency=2, max_backlog=4)  # fmt: skip
    items = schedule(config.rate, config.duration_s, config.seed)
    async with httpx.AsyncClient(transport=httpx.MockTransport(slow), base_url=config.target) as c:
        report = (await LoadGenerator(c, config).run(items)).report()
    skipped = report["errors"]["skipped: the server fell behind (client backlog full)"]
    assert skipped > 0
    assert report["events_sent"] + skipped == len(items)
    assert report["events_accepted"] == report["events_sent"]

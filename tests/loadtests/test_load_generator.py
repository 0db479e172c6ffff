"""The load generator's schedule (pure), and its requests against real servers: the collector
app under uvicorn, a slow server, a failing one, and a store answering the probes."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

import orjson

from loadtests.http_client import HttpClient
from loadtests.load_generator import (
    Item,
    LoadConfig,
    LoadGenerator,
    accepted_events,
    generate,
    journey_items,
    percentile,
    schedule,
)
from services.bus.memory_bus import MemoryProducer
from services.collector.app import create_app
from services.settings import CollectorSettings
from services.simulation.journeys import Journey, Step
from tests.loadtests.conftest import answer, asgi_server, raw_server, read_request
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
    async with asgi_server(app) as url, HttpClient(url, headers={"user-agent": ""}) as client:
        config = LoadConfig(target=url, rate=300, duration_s=1.5)
        items: list[Item] = schedule(config.rate, config.duration_s, config.seed)
        outcome = await LoadGenerator(client, config).run(items)
    report = outcome.report()
    assert client.opened <= config.concurrency
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


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def send_json(send: Any, status: int, data: Any) -> None:
    body = orjson.dumps(data)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def test_a_server_that_falls_behind_makes_the_generator_skip_and_say_so() -> None:
    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_body(receive)
        await asyncio.sleep(0.3)
        if scope["path"] == "/v1/events":
            count = len(orjson.loads(body)["events"])
            await send_json(send, 200, {"accepted": count, "rejected": []})
        else:
            await send_json(send, 200, {"status": "accepted"})

    async with asgi_server(slow) as url, HttpClient(url, connections=2) as client:
        config = LoadConfig(target=url, rate=400, duration_s=0.6, concurrency=2, max_backlog=4)
        items = schedule(config.rate, config.duration_s, config.seed)
        report = (await LoadGenerator(client, config).run(items)).report()
    skipped = report["errors"]["skipped: the server fell behind (client backlog full)"]
    assert skipped > 0
    assert report["events_sent"] + skipped == len(items)
    assert report["events_accepted"] == report["events_sent"]


async def test_transport_errors_statuses_refused_items_and_bad_answers_are_counted() -> None:
    """SDK batches: the first item refused; server batches: 503, then 200 but not JSON;
    postbacks: the connection closed unanswered."""
    batches = 0

    async def failing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal batches
        while (request := await read_request(reader)) is not None:
            line, _, body = request
            if line.startswith("POST /v1/events "):
                count = len(orjson.loads(body)["events"])
                refused = [{"index": 0, "error": "invalid_event"}]
                writer.write(
                    answer(200, orjson.dumps({"accepted": count - 1, "rejected": refused}))
                )
            elif line.startswith("POST /v1/conversions "):
                batches += 1
                writer.write(answer(503, b"busy") if batches == 1 else answer(200, b"ok"))
            else:
                return

    web = (Step("click", 0.0, "coupon-hub", "acme-summer-sale"),
           Step("conversion", 900.0, event_name="purchase", revenue=1999, order_id="o-1"),
           Step("reversal", 4500.0, order_id="o-1", reversed_amount=500))  # fmt: skip
    mobile = (Step("click", 0.0, "mobidream", "rocket-android-install"),
              Step("install", 45.0, "mobidream", "rocket-android-install", event_name="install"),
              Step("in_app", 600.0, event_name="registration"))  # fmt: skip
    journeys = [Journey(f"w{i}", "acme-shop", False, False, "Mozilla/5.0", i * 0.3, web, "EUR")
                for i in range(3)] + [
               Journey(f"m{i}", "rocket-app", True, False, "Mozilla/5.0", 0.0, mobile, "USD")
                for i in range(2)]  # fmt: skip
    items = sorted(
        (i for j in journeys for i in journey_items(j, seed=1, now_s=0)), key=lambda i: i.due_s
    )
    assert len({i.due_s for i in items if i.channel == "s2s"}) == 3  # three server batches
    config = LoadConfig(target="", rate=300, duration_s=max(i.due_s for i in items) + 0.1)
    async with raw_server(failing) as url, HttpClient(url) as client:
        report = (await LoadGenerator(client, config).run(items)).report()
    requests, errors = report["requests"], report["errors"]
    assert requests["POST /v1/conversions 503"] == 1
    assert requests["POST /v1/conversions 200"] == 2
    assert errors == {
        "GET /v1/postback/appsflyer: ConnectionLost": 4,
        "POST /v1/conversions: 503 busy": 1,
        "POST /v1/conversions: 200 answer is not JSON": 2,
        "POST /v1/events: refused invalid_event": requests["POST /v1/events 200"],
    }
    assert report["error_count"] == sum(errors.values())
    assert report["events_sent"] == len(items) == 15  # 8 SDK events, 3 reversals, 4 postbacks
    assert report["events_accepted"] == 8 - requests["POST /v1/events 200"]


async def test_probes_are_polled_in_the_store_and_the_lag_sampled_until_drained() -> None:
    """`generate` end to end: the load and the probes to a collector, the polls to a store on
    another port that reports every probe credited and every accepted event processed."""
    accepted = 0

    async def collector(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal accepted
        body = await read_body(receive)
        if scope["path"] == "/metrics":
            line = f'partnerstream_events_accepted_total{{source="sdk"}} {accepted}\n'
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": line.encode()})
            return
        count = len(orjson.loads(body)["events"]) if body else 1
        accepted += count
        await send_json(send, 200, {"accepted": count, "rejected": []})

    async def store(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive)
        if scope["path"] == "/bench/credits":
            ids = scope["query_string"].decode().removeprefix("ids=").split("%2C")
            await send_json(send, 200, {"found": dict.fromkeys(ids, 1)})
        else:
            counts = {"rows_events": accepted, "duplicates": 0, "undecodable": 0}
            await send_json(send, 200, counts | {"rss_bytes": 1000.0})

    async with asgi_server(collector) as target, asgi_server(store) as probe_url:
        config = LoadConfig(target=target, rate=200, duration_s=1.0, probe_url=probe_url,
                            probe_rate=10, monitor_s=0.2)  # fmt: skip
        report = await generate(config)
    assert report["error_count"] == 0, report["errors"]
    assert report["events_accepted"] == report["planned_events"]
    probes = report["probes"]
    assert probes["sent"] >= 5
    assert probes["seen"] == probes["sent"]
    assert probes["lost"] == 0
    assert report["lag"]["samples"]
    assert report["lag"]["last"] == 0
    assert report["lag"]["drained_s"] is not None
    assert report["attributor_rss_max_bytes"] == 1000.0

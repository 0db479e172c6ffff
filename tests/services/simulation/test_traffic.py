"""The driver against the real collector app in this process (ASGI, in-memory bus)."""

from __future__ import annotations

import asyncio
from collections import Counter
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
import orjson
import pytest

from services.bus.memory_bus import MemoryProducer
from services.collector.app import create_app
from services.settings import CollectorSettings
from services.simulation.journeys import FLOOD_PARTNER, MOBILE_CAMPAIGNS
from services.simulation.summary import Summary
from services.simulation.traffic import (
    FALLBACK_NOTE,
    TrafficConfig,
    TrafficDriver,
    journey_kind,
    plan_traffic,
)
from tests.services.collector.conftest import REPO
from tracker.registry import load_registry

REGISTRY = REPO / "deploy" / "registry.example.yaml"
CONFIG = TrafficConfig(rate=250, duration_s=2.0, seed=5, bad_share=0.3, drain_s=2.0)


def sent(producer: MemoryProducer, topic: str = "events.v1") -> list[dict[str, Any]]:
    return [orjson.loads(value) for _, value in producer.records[topic]]


async def drive(
    config: TrafficConfig, *, trust_forwarded_for: bool
) -> tuple[Summary, MemoryProducer]:
    producer = MemoryProducer()
    await producer.start()
    settings = CollectorSettings(trust_forwarded_for=trust_forwarded_for)
    app = create_app(settings, registry=load_registry(REGISTRY), producer=producer)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1:8000",
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    ) as client:
        summary = await TrafficDriver(client, config).run(plan_traffic(config))
    return summary, producer


def test_the_plan_holds_the_event_budget_with_every_kind_of_journey() -> None:
    journeys = plan_traffic(TrafficConfig(rate=100, duration_s=30, seed=2))
    events = sum(len(j.steps) for j in journeys)
    assert 3000 <= events < 3000 + 12  # one journey at most past the budget, per population
    assert [j.start_s for j in journeys] == sorted(j.start_s for j in journeys)
    assert all(j.start_s <= 30 * 0.8 for j in journeys)
    kinds = Counter(journey_kind(j) for j in journeys)
    assert set(kinds) == {"web", "mobile", "bot", "click flood"}
    flood_clicks = sum(len(j.steps) for j in journeys if journey_kind(j) == "click flood")
    assert 0.04 * 3000 <= flood_clicks <= 0.06 * 3000
    assert plan_traffic(TrafficConfig(rate=100, duration_s=30, seed=2)) == journeys


@pytest.fixture(scope="module")
def run() -> tuple[Summary, MemoryProducer]:
    return asyncio.run(drive(CONFIG, trust_forwarded_for=True))


def test_every_answer_is_the_expected_one(run: tuple[Summary, MemoryProducer]) -> None:
    summary, _ = run
    assert summary.ok, summary.render()
    assert summary.server_errors == 0
    assert summary.notes == []
    endpoints = {endpoint for endpoint, _ in summary.requests}
    assert endpoints >= {
        "GET /c/{partner}/{campaign}", "GET /i/{partner}/{campaign}", "GET /p.gif",
        "POST /v1/events", "GET /v1/postback/appsflyer",
    }  # fmt: skip
    assert 250 * 2 * 0.5 <= summary.total_requests <= 250 * 2 + 30  # paced by the bucket


def test_what_was_accepted_is_what_reached_the_bus(run: tuple[Summary, MemoryProducer]) -> None:
    summary, producer = run
    on_bus = Counter(e["type"] for e in sent(producer))
    assert on_bus["click"] == summary.events["click"] > 0
    assert on_bus["impression"] == summary.events["impression"] > 0
    assert on_bus["install"] == summary.events["install"] > 0
    assert on_bus["conversion"] == summary.events["conversion"] + summary.events["in_app"]
    assert summary.events["conversion"] > 0
    assert summary.events["in_app"] > 0
    assert on_bus["reversal"] == summary.events["reversal"]


def test_malformed_conversions_are_dead_lettered_and_nothing_else_is(
    run: tuple[Summary, MemoryProducer],
) -> None:
    summary, producer = run
    letters = sent(producer, "events.dlq.v1")
    assert sum(summary.deliberate_rejects.values()) == len(letters) > 0
    assert {letter["reason"] for letter in letters} == {"invalid_event"}
    assert {letter["endpoint"] for letter in letters} <= {"/v1/events", "/p.gif"}


def test_journeys_keep_their_cookies_and_bots_are_flagged(
    run: tuple[Summary, MemoryProducer],
) -> None:
    _, producer = run
    clicks = [e for e in sent(producer) if e["type"] == "click"]
    per_visitor = Counter(e["visitor_id"] for e in clicks if e["advertiser_id"] == "acme-shop")
    assert max(per_visitor.values()) >= 2  # multi-touch paths: one cookie across clicks
    assert any(e["context"]["is_bot"] for e in clicks)
    assert any(not e["context"]["is_bot"] for e in clicks)
    conversions = [e for e in sent(producer) if e["type"] == "conversion" and e.get("order_id")]
    assert {e["context"]["source"] for e in conversions} >= {"pixel", "sdk"}
    linked = [e for e in conversions if e.get("click_event_id")]
    assert linked
    assert all(e["visitor_id"] in per_visitor for e in linked if e["advertiser_id"] == "acme-shop")


def test_fraud_patterns_reach_the_bus(run: tuple[Summary, MemoryProducer]) -> None:
    _, producer = run
    events = sent(producer)
    floods = [e for e in events if e.get("partner_id") == FLOOD_PARTNER
              and e.get("campaign_id") in MOBILE_CAMPAIGNS]  # fmt: skip
    assert floods
    assert all(e["sub1"] == "flood" and e["type"] == "click" for e in floods)
    installs = [e for e in events if e["type"] == "install"]
    assert any("ctit_too_short" in e["context"]["fraud_flags"] for e in installs)
    assert any(not e["context"]["fraud_flags"] for e in installs)
    assert any(e.get("click_event_id") for e in installs)  # the click id went through the MMP


async def test_without_a_trusted_sender_address_postbacks_fall_back_to_branch() -> None:
    config = TrafficConfig(rate=200, duration_s=1.5, seed=9, drain_s=2.0)
    summary, producer = await drive(config, trust_forwarded_for=False)
    assert summary.ok, summary.render()
    assert summary.notes == [FALLBACK_NOTE]
    assert summary.requests[("GET /v1/postback/appsflyer", 403)] >= 1
    assert summary.requests[("GET /v1/postback/branch", 200)] >= 1
    installs = [e for e in sent(producer) if e["type"] == "install"]
    assert len(installs) == summary.events["install"] > 0

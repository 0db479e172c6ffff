"""The collector against the real Kafka broker (issue 3): what it accepts over HTTP really
lands in Kafka, once, keyed by visitor; and a broker that stops mid-run costs no request and
no event (the spool answers meanwhile and drains, in order per key, after the restart).

The app is the production one (``build_collector_app``: a ``SpoolingProducer`` over a
``KafkaProducerBus``), configured through the environment like a deployed collector.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from aiokafka.partitioner import murmur2
from fastapi import FastAPI

from services.bus.kafka_bus import ensure_topics
from services.bus.records import Record
from services.deployables import build_collector_app
from services.settings import CollectorSettings, load
from tests.services.kafka_broker import (
    REPO,
    PrivateBroker,
    eventually,
    partitions_of,
    read_topic,
    running,
    unique_name,
)

pytestmark = pytest.mark.kafka

ACME_KEY = "dev-acme-write-key"
AUTH = {"authorization": f"Bearer {ACME_KEY}"}
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
PARTNERS = ("style-by-mia", "gadget-review-blog", "coupon-hub", "cashback-club")
PARTITIONS = 4


def collector_settings(
    monkeypatch: pytest.MonkeyPatch, bootstrap: str, data_dir: Path, **extra: str
) -> tuple[CollectorSettings, str, str]:
    """Settings read from the environment, as `partnerstream serve collector` reads them,
    with topics of this test's own."""
    topic = unique_name("events")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PARTNERSTREAM_DATA_DIR": str(data_dir),
        "PARTNERSTREAM_EVENTS_TOPIC": topic,
        "PARTNERSTREAM_DLQ_TOPIC": f"{topic}.dlq",
        "PARTNERSTREAM_TOPIC_PARTITIONS": str(PARTITIONS),
        "PARTNERSTREAM_REGISTRY": str(REPO / "deploy" / "registry.example.yaml"),
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load(CollectorSettings)
    assert settings.uses_kafka
    return settings, settings.events_topic, settings.dlq_topic


@asynccontextmanager
async def http_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="https://collector.test",
        headers={"user-agent": BROWSER},
    ) as client:
        yield client


def murmur2_partition(key: bytes, partitions: list[int]) -> int:
    return int(partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)])


def values(records: list[Record]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]


async def click(http: httpx.AsyncClient, partner: str) -> str:
    r = await http.get(f"/c/{partner}/acme-summer-sale")
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["location"]).query)["clickid"][0]


@dataclass
class Visit:
    visitor: str
    click_ids: list[str] = field(default_factory=list)
    order_id: str = ""


async def test_clicks_pixels_and_sdk_batches_arrive_once_keyed_by_visitor(
    kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, topic, dlq = collector_settings(monkeypatch, kafka_bootstrap, tmp_path)
    app = build_collector_app(settings)  # its start-up creates the topics
    visits: list[Visit] = []
    async with running(app), http_client(app) as http:
        assert (await http.get("/readyz")).json() == {"ready": True, "detail": "kafka"}
        for v in range(4):
            http.cookies.clear()  # a new person
            click_ids = [await click(http, PARTNERS[(v + i) % 4]) for i in range(2)]
            visit = Visit(http.cookies["ps_vid"], click_ids, f"P-{v}")
            r = await http.get(
                "/p.gif",
                params={
                    "key": ACME_KEY,
                    "event": "purchase",
                    "order_id": visit.order_id,
                    "amount": f"{10 + v}.50",
                    "currency": "EUR",
                    "clickid": click_ids[-1],
                },
            )
            assert r.status_code == 200
            assert "x-partnerstream-rejected" not in r.headers
            visits.append(visit)
        http.cookies.clear()
        sdk_items: list[object] = [
            {
                "type": "conversion",
                "ts": "2026-11-23T10:00:00Z",
                "event_name": "signup",
                "visitor_id": visits[0].visitor,  # joins the partition of that visitor
            },
            {
                "type": "conversion",
                "ts": "2026-11-23T10:00:01Z",
                "event_name": "lead",
                "visitor_id": str(uuid.uuid4()),
                "order_id": "S-1",
                "revenue": 700,
                "currency": "EUR",
            },
            {"type": "nope"},  # dead-lettered, the others kept
        ]
        r = await http.post("/v1/events", headers=AUTH, json={"events": sdk_items})
        assert r.status_code == 200, r.text
        batch = r.json()
        assert batch["accepted"] == 2
        assert [x["error"] for x in batch["rejected"]] == ["invalid_event"]
        sdk_ids = batch["event_ids"]
        # A pixel with an unknown key still answers the GIF; its request is dead-lettered.
        r = await http.get("/p.gif", params={"key": "not-a-key", "event": "purchase"})
        assert r.headers["x-partnerstream-rejected"] == "write_key_unknown"
    # The lifespan has ended: the producer flushed and stopped.

    records = await read_topic(kafka_bootstrap, topic)
    events = values(records)
    assert len(events) == 4 * 3 + 2, "every accepted event arrives, nothing else"
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids), "an event arrived twice"
    for record, event in zip(records, events, strict=True):
        assert record.key == f"v:{event['visitor_id']}".encode()

    clicks = {
        e["click_id"]: (r, e) for r, e in zip(records, events, strict=True) if e["type"] == "click"
    }
    pixels = {
        e["order_id"]: (r, e)
        for r, e in zip(records, events, strict=True)
        if e["type"] == "conversion" and e["context"]["source"] == "pixel"
    }
    assert set(clicks) == {c for v in visits for c in v.click_ids}
    assert set(pixels) == {v.order_id for v in visits}
    for v, visit in enumerate(visits):
        conversion_record, conversion = pixels[visit.order_id]
        assert conversion["visitor_id"] == visit.visitor  # recovered from the signed click id
        assert conversion["revenue"] == (10 + v) * 100 + 50
        _, last_click = clicks[visit.click_ids[-1]]
        assert conversion["click_event_id"] == last_click["event_id"]
        journey = [clicks[c][0] for c in visit.click_ids] + [conversion_record]
        assert len({r.partition for r in journey}) == 1, "a visitor's events share a partition"
        assert [r.offset for r in journey] == sorted(r.offset for r in journey)
    sdk = {
        e["event_id"]: (r, e)
        for r, e in zip(records, events, strict=True)
        if e["context"]["source"] == "sdk"
    }
    assert set(sdk) == set(sdk_ids)
    signup_record, signup = sdk[sdk_ids[0]]
    assert signup["visitor_id"] == visits[0].visitor
    assert signup_record.partition == clicks[visits[0].click_ids[0]][0].partition
    # The partition is the Java client's (murmur2 of the key), so any Kafka client or tool
    # finds a visitor's events where the collector put them.
    partitions = await partitions_of(kafka_bootstrap, topic)
    assert partitions == list(range(PARTITIONS))
    for record in records:
        assert record.partition == murmur2_partition(record.key, partitions), record.key

    letters = await read_topic(kafka_bootstrap, dlq)
    dead = values(letters)
    assert Counter(d["reason"] for d in dead) == {"invalid_event": 1, "write_key_unknown": 1}
    for record, letter in zip(letters, dead, strict=True):
        assert record.key == letter["rejected_id"].encode()
    assert {d["endpoint"] for d in dead} == {"/v1/events", "/p.gif"}


# -- the broker stops mid-run and comes back -------------------------------------------------

VISITORS = [str(uuid.UUID(int=n + 1, version=4)) for n in range(6)]
ANSWER_BOUND_S = 3.0  # deadline (0.3 s) + spool fsync, with ample margin on a busy machine


@pytest.fixture
def private_broker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[PrivateBroker]:
    """A broker of this test's own (never the shared one, `kafka_bootstrap`): it is stopped
    and restarted. Where there is no shared broker, there is no Kafka to run: skipped."""
    broker = PrivateBroker(tmp_path / "kafka")
    yield broker
    broker.close()


@dataclass
class Sender:
    """Posts SDK batches of two events of one visitor, recording what was accepted."""

    http: httpx.AsyncClient
    accepted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    in_flight_at_stop: set[str] = field(default_factory=set)
    stopping: bool = False  # from the broker's stop until the collector notices (spools)
    slowest_s: float = 0.0
    sent: int = 0

    async def send(self, count: int) -> None:
        for _ in range(count):
            visitor = VISITORS[self.sent % len(VISITORS)]
            items = [
                {
                    "type": "conversion",
                    "ts": "2026-11-23T10:00:00Z",
                    "event_name": "step",
                    "visitor_id": visitor,
                    "order_id": f"O-{self.sent}-{i}",
                }
                for i in range(2)
            ]
            started = time.perf_counter()
            r = await self.http.post("/v1/events", headers=AUTH, json={"events": items})
            self.slowest_s = max(self.slowest_s, time.perf_counter() - started)
            assert r.status_code == 200, f"request {self.sent}: {r.status_code} {r.text}"
            assert r.json()["accepted"] == 2
            self.accepted[f"v:{visitor}"].extend(r.json()["event_ids"])
            self.sent += 1
            if self.stopping:  # sent direct to a broker going away: may be ambiguous
                self.in_flight_at_stop.update(r.json()["event_ids"])
                spooling = (await self.http.get("/readyz")).json()["detail"] != "kafka"
                self.stopping = not spooling


async def spool_state(http: httpx.AsyncClient) -> tuple[str, float]:
    """(readiness detail, spool depth gauge) as an operator sees them."""
    detail = (await http.get("/readyz")).json()["detail"]
    metrics = (await http.get("/metrics")).text
    [depth] = [
        float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("partnerstream_spool_depth ")
    ]
    return str(detail), depth


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "while_sending",
    [
        pytest.param(False, id="stopped-between-requests"),
        # Produce requests are in flight during the broker's controlled shutdown.
        pytest.param(True, id="stopped-while-sending"),
    ],
)
async def test_broker_stopped_mid_run_spools_then_every_event_arrives_in_order(
    private_broker: PrivateBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    while_sending: bool,
) -> None:
    """An outage longer than the producer's request timeout (3 s here, 15 s by default).

    Exactly once per event id, except for what the spool documents as at-least-once: a
    produce in flight when the broker went away may fail after the broker wrote it, and is
    then produced again from the spool (the attributor drops the copy by event id). So only
    events sent direct while the broker was going away may arrive twice.
    """
    bootstrap = await private_broker.start()
    settings, topic, _ = collector_settings(
        monkeypatch,
        bootstrap,
        tmp_path / "collector",
        PARTNERSTREAM_KAFKA_DEADLINE_MS="300",
        PARTNERSTREAM_KAFKA_REQUEST_TIMEOUT_MS="3000",
    )
    await ensure_topics(bootstrap, {topic: PARTITIONS, settings.dlq_topic: PARTITIONS})
    app = build_collector_app(settings)
    async with running(app), http_client(app) as http:
        sender = Sender(http)
        await sender.send(20)
        assert await spool_state(http) == ("kafka", 0.0)

        # A clean stop (SIGTERM), as an operator's restart does it.
        stopping = asyncio.create_task(private_broker.stop(), name="kafka.sh stop")
        sender.stopping = True
        while while_sending and not stopping.done():
            await sender.send(1)
        await stopping
        await sender.send(30)
        assert not sender.stopping, "the collector did not switch to its spool"
        assert sender.slowest_s < ANSWER_BOUND_S, f"a request took {sender.slowest_s:.2f} s"
        detail, depth = await spool_state(http)
        assert detail == "spooling to disk"
        assert depth > 0

        await private_broker.restart()
        await sender.send(10)  # queued behind the spool, so order per key holds

        async def drained() -> bool:
            return await spool_state(http) == ("kafka", 0.0)

        await eventually(drained, within_s=30, what="the spool drained to the restarted broker")
        await sender.send(5)  # direct again
        assert await spool_state(http) == ("kafka", 0.0)
    assert sender.slowest_s < ANSWER_BOUND_S, f"a request took {sender.slowest_s:.2f} s"

    records = await read_topic(bootstrap, topic)
    ids = Counter(orjson.loads(r.value)["event_id"] for r in records)
    accepted = [i for ids_of_key in sender.accepted.values() for i in ids_of_key]
    assert len(accepted) == 2 * sender.sent
    assert len(set(accepted)) == len(accepted)
    assert set(ids) == set(accepted), "an accepted event is missing (or a stranger appeared)"
    twice = {i for i, n in ids.items() if n > 1}
    assert twice <= sender.in_flight_at_stop, (
        f"{len(twice - sender.in_flight_at_stop)} events reached Kafka twice although no "
        "send of theirs was in flight when the broker stopped"
    )
    for key, expected in sender.accepted.items():
        got = [r for r in records if r.key == key.encode()]
        assert len({r.partition for r in got}) == 1, key
        first_seen = list(dict.fromkeys(orjson.loads(r.value)["event_id"] for r in got))
        assert first_seen == expected, f"order of {key}"

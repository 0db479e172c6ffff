"""The Kafka backend against the real broker (``make test`` sets KAFKA_BOOTSTRAP_SERVERS).

Each test uses its own topic and consumer group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from services.bus.errors import BusUnavailable, DeliveryFailed
from services.bus.kafka_bus import KafkaConsumerBus, KafkaProducerBus, ensure_topics
from services.bus.local_log import LocalLog
from services.bus.protocols import EventConsumer, EventProducer
from services.bus.records import Record, TopicPartition
from services.bus.spool import SpoolingProducer
from tests.services.bus.bus_fakes import WaitUntil

pytestmark = pytest.mark.kafka

DEAD_BOOTSTRAP = "127.0.0.1:1"


def producer_for(bootstrap: str) -> KafkaProducerBus:
    return KafkaProducerBus(bootstrap_servers=bootstrap, request_timeout_ms=5_000)


def consumer_for(bootstrap: str, topic: str, group: str) -> KafkaConsumerBus:
    return KafkaConsumerBus(
        bootstrap_servers=bootstrap,
        topics=[topic],
        group_id=group,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
    )


async def consume(consumer: EventConsumer, expected: int, timeout_s: float = 30) -> list[Record]:
    records: list[Record] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while len(records) < expected:
        assert loop.time() < deadline, f"got {len(records)} of {expected} records"
        for part in (await consumer.getmany(max_records=500, timeout_ms=500)).values():
            records.extend(part)
    return records


def assert_same_partition_and_order(
    records: list[Record], sent: Sequence[tuple[bytes, bytes]]
) -> None:
    assert sorted(r.value for r in records) == sorted(v for _, v in sent)  # exactly once
    for key in {k for k, _ in sent}:
        got = [r for r in records if r.key == key]
        assert len({r.partition for r in got}) == 1, key
        assert [r.value for r in got] == [v for k, v in sent if k == key]


async def test_round_trip_keeps_keys_in_one_partition_in_order(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("events"), unique_name("attributor")
    await ensure_topics(kafka_bootstrap, {topic: 3})
    await ensure_topics(kafka_bootstrap, {topic: 3})  # idempotent
    producer = producer_for(kafka_bootstrap)
    assert isinstance(producer, EventProducer)
    await producer.start()
    sent = [(b"visitor-%d" % (i % 7), b"event-%03d" % i) for i in range(140)]
    for start in range(0, len(sent), 20):
        await producer.send_batch(topic, sent[start : start + 20])
    await producer.stop()

    consumer = consumer_for(kafka_bootstrap, topic, group)
    assigned: list[frozenset[TopicPartition]] = []
    revoked: list[frozenset[TopicPartition]] = []

    async def on_assigned(tps: frozenset[TopicPartition]) -> None:
        assigned.append(tps)

    async def on_revoked(tps: frozenset[TopicPartition]) -> None:
        revoked.append(tps)

    consumer.on_assigned(on_assigned)
    consumer.on_revoked(on_revoked)
    await consumer.start()
    records = await consume(consumer, len(sent))
    everything = frozenset(TopicPartition(topic, p) for p in range(3))
    assert everything in assigned
    assert consumer.assignment() == everything
    assert consumer.lag() == {topic: 0}  # everything fetched up to each high watermark
    assert_same_partition_and_order(records, sent)
    assert len({r.partition for r in records}) > 1  # keys were spread over partitions
    await consumer.commit({r.topic_partition: r.offset + 1 for r in records})
    await consumer.stop()
    assert revoked
    assert revoked[-1] == everything


async def test_restarted_consumer_resumes_after_the_committed_offset(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    topic, group = unique_name("events"), unique_name("attributor")
    await ensure_topics(kafka_bootstrap, {topic: 2})
    producer = producer_for(kafka_bootstrap)
    await producer.start()
    await producer.send_batch(topic, [(b"k%d" % i, b"first-%d" % i) for i in range(10)])

    consumer = consumer_for(kafka_bootstrap, topic, group)
    await consumer.start()
    first = await consume(consumer, 10)
    last: dict[TopicPartition, int] = {}
    for record in first:
        last[record.topic_partition] = record.offset + 1
    await consumer.commit(last)
    await consumer.stop()

    await producer.send_batch(topic, [(b"k%d" % i, b"second-%d" % i) for i in range(5)])
    await producer.stop()
    consumer = consumer_for(kafka_bootstrap, topic, group)
    await consumer.start()
    second = await consume(consumer, 5)
    assert sorted(r.value for r in second) == sorted(b"second-%d" % i for i in range(5))
    assert await consumer.getmany(max_records=100, timeout_ms=500) == {}
    await consumer.stop()


async def test_dead_broker_is_reported_as_unavailable() -> None:
    producer = producer_for(DEAD_BOOTSTRAP)
    with pytest.raises(BusUnavailable) as info:
        await producer.start()
    assert info.value.retriable


async def test_spool_takes_events_while_kafka_is_unreachable_and_drains_after_restart(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path, wait_until: WaitUntil
) -> None:
    topic, group = unique_name("events"), unique_name("attributor")
    await ensure_topics(kafka_bootstrap, {topic: 3})
    sent = [(b"device-%d" % (i % 4), b"event-%03d" % i) for i in range(40)]

    # A collector configured with a broker that is not there: requests still succeed.
    spooler = SpoolingProducer(
        producer_for(DEAD_BOOTSTRAP),
        LocalLog(tmp_path / "spool"),
        deadline_ms=200,
        start_timeout_ms=3_000,
        stop_timeout_ms=100,
    )
    await spooler.start()
    for start in range(0, len(sent), 8):
        await spooler.send_batch(topic, sent[start : start + 8])
    assert spooler.spooling
    assert spooler.depth() == len(sent)
    await spooler.stop()

    # Restarted with the right address: the leftovers reach Kafka, then new events go direct.
    spooler = SpoolingProducer(
        producer_for(kafka_bootstrap), LocalLog(tmp_path / "spool"), deadline_ms=5_000
    )
    await spooler.start()
    await wait_until(lambda: not spooler.spooling, timeout_s=30)
    await spooler.send_batch(topic, [(b"device-0", b"event-after")])
    assert spooler.depth() == 0
    await spooler.stop()

    consumer = consumer_for(kafka_bootstrap, topic, group)
    await consumer.start()
    records = await consume(consumer, len(sent) + 1)
    assert_same_partition_and_order(records, [*sent, (b"device-0", b"event-after")])
    assert await consumer.getmany(max_records=100, timeout_ms=500) == {}  # no duplicates
    await consumer.stop()


class FlakyPrimary:
    """Fails every send while ``down``; otherwise forwards to a real ``KafkaProducerBus``."""

    def __init__(self, bus: KafkaProducerBus) -> None:
        self.bus = bus
        self.down = False

    async def start(self) -> None:
        await self.bus.start()

    async def stop(self) -> None:
        await self.bus.stop()

    async def send_batch(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        if self.down:
            raise DeliveryFailed("broker unreachable (simulated)")
        await self.bus.send_batch(topic, items)


async def test_spool_drains_to_kafka_in_order_when_it_comes_back(
    kafka_bootstrap: str, unique_name: Callable[[str], str], tmp_path: Path, wait_until: WaitUntil
) -> None:
    topic, group = unique_name("events"), unique_name("attributor")
    await ensure_topics(kafka_bootstrap, {topic: 3})
    primary = FlakyPrimary(producer_for(kafka_bootstrap))
    spooler = SpoolingProducer(
        primary, LocalLog(tmp_path / "spool"), deadline_ms=5_000, backoff_ms=(10, 50)
    )
    await spooler.start()
    sent = [(b"customer-%d" % (i % 5), b"event-%03d" % i) for i in range(90)]
    await spooler.send_batch(topic, sent[:30])  # direct
    primary.down = True
    for start in range(30, 60, 10):
        await spooler.send_batch(topic, sent[start : start + 10])  # spooled
    assert spooler.spooling
    primary.down = False
    for start in range(60, 90, 10):
        await spooler.send_batch(topic, sent[start : start + 10])  # behind the spool
    await wait_until(lambda: not spooler.spooling, timeout_s=30)
    await spooler.stop()

    consumer = consumer_for(kafka_bootstrap, topic, group)
    await consumer.start()
    records = await consume(consumer, len(sent))
    assert_same_partition_and_order(records, sent)
    assert await consumer.getmany(max_records=100, timeout_ms=500) == {}
    await consumer.stop()

"""ClickHouse unavailable for a while: nothing lost, nothing committed early.

The outage is injected at the sink seam: `FlakySink` wraps the real `ClickHouseSink` and
refuses writes with `StoreUnavailable` while it is down, as the driver's errors are mapped
when a ClickHouse server cannot be reached. While it is down the attributor retries with
backoff and the consumer group's committed offsets do not move; once it is back, every event
is stored once and the credits are those of an attributor that never waited.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from attribution.columns import Model
from schemas.events import EventBase
from services.attributor.service import Attributor, AttributorConfig
from services.attributor.sink import ClickHouseSink, Columns
from services.bus.kafka_bus import KafkaConsumerBus
from services.bus.local_bus import LocalBus
from services.bus.local_log import LocalLog
from services.bus.protocols import EventConsumer
from services.bus.records import Record, TopicPartition
from services.clock import FixedClock
from services.collector.publisher import encode_event
from services.errors import StoreUnavailable
from services.simulation.journeys import Mix, canonical_events, plan_journeys
from tests.services.kafka_broker import (
    assert_stored_exactly_once,
    committed_offsets,
    end_offsets,
    eventually,
    fully_committed,
    produce_events,
    unique_name,
)

MODELS = (Model.LAST_TOUCH, Model.LINEAR)
START_MS = 1_795_300_000_000
PARTITIONS = 2
RETRIES = "partnerstream_sink_retries_total"


class FlakySink:
    """The real sink, except that while `down` it refuses writes (to `tables`, or all)."""

    def __init__(self, inner: ClickHouseSink) -> None:
        self.inner = inner
        self._down = threading.Event()  # writes run in worker threads
        self.tables: Collection[str] = ()
        self.refused = 0

    def go_down(self, tables: Collection[str] = ()) -> None:
        self.tables = tables
        self._down.set()

    def come_back(self) -> None:
        self._down.clear()

    def write(self, table: str, columns: Columns, token: str) -> None:
        if self._down.is_set() and (not self.tables or table in self.tables):
            self.refused += 1
            raise StoreUnavailable(f"insert into {table} failed: connection refused (injected)")
        self.inner.write(table, columns, token)

    def high_water_marks(self, topic: str, partitions: Sequence[int]) -> dict[str, dict[int, int]]:
        return self.inner.high_water_marks(topic, partitions)

    def read_events(self, topic: str, partitions: Sequence[int], since_ms: int) -> list[Record]:
        return self.inner.read_events(topic, partitions, since_ms)

    def query_rows(self, sql: str, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.inner.query_rows(sql, parameters)


def stream(journeys: int) -> list[EventBase]:
    plans = plan_journeys(journeys, seed=3, span_s=86_400, mix=Mix(reverse=0.0))
    return sorted(canonical_events(plans, START_MS, seed=3), key=lambda e: e.ts)


def attributor(
    consumer: EventConsumer, sink: FlakySink, topic: str, batch_max_records: int = 200
) -> Attributor:
    config = AttributorConfig(
        events_topic=topic,
        dlq_topic=f"{topic}.dlq",
        models=MODELS,
        batch_max_records=batch_max_records,
        batch_max_ms=50,
        retry_max_seconds=0.2,  # keep retrying briskly: the test decides when it is back
    )
    return Attributor(consumer, sink, FixedClock(START_MS + 2 * 86_400_000), config)


def retries(a: Attributor) -> float:
    return a.metrics.registry.get_sample_value(RETRIES) or 0.0


def retried(a: Attributor, times: int) -> Callable[[], bool]:
    return lambda: retries(a) >= times


def stored_events(client: Client) -> int:
    return int(client.query("SELECT count() FROM events").result_rows[0][0])


def kafka_consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumerBus:
    return KafkaConsumerBus(
        bootstrap_servers=bootstrap,
        topics=[topic],
        group_id=group,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
    )


@pytest.mark.kafka
@pytest.mark.timeout(120)
async def test_kafka_offsets_wait_for_the_store_and_nothing_is_lost(
    kafka_bootstrap: str, ch_client: Client
) -> None:
    events = stream(400)
    half = len(events) // 2
    topic, group = unique_name("events"), unique_name("attributor")
    sink = FlakySink(ClickHouseSink(ch_client))
    await produce_events(kafka_bootstrap, topic, events[:half], partitions=PARTITIONS)
    worker = attributor(kafka_consumer(kafka_bootstrap, topic, group), sink, topic)
    task = asyncio.create_task(worker.run(), name="attributor")

    async def committed_all() -> bool:
        return await fully_committed(kafka_bootstrap, group, topic)

    try:
        await eventually(committed_all, within_s=40, what="first half consumed", watch=[task])
        before = await committed_offsets(kafka_bootstrap, group, topic)
        assert stored_events(ch_client) == half

        sink.go_down()
        await produce_events(kafka_bootstrap, topic, events[half:], partitions=PARTITIONS)
        ends = await end_offsets(kafka_bootstrap, topic)
        assert any(ends[p] > before[p] for p in ends), "nothing new to commit"
        for at_least in (3, 8):  # early in the outage, and after several backoffs
            await eventually(
                retried(worker, at_least), within_s=30, what=f"{at_least} retries", watch=[task]
            )
            assert await committed_offsets(kafka_bootstrap, group, topic) == before
            assert stored_events(ch_client) == half
        sink.come_back()
        await eventually(committed_all, within_s=40, what="the rest consumed", watch=[task])
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=30)

    assert sink.refused >= 8
    assert_stored_exactly_once(ch_client, events, MODELS)


@pytest.mark.kafka
@pytest.mark.timeout(120)
async def test_attributor_stopped_mid_outage_after_a_partial_write_resumes_exactly_once(
    kafka_bootstrap: str, ch_client: Client
) -> None:
    """The credits of a batch got in, its events did not; the attributor is stopped while
    still retrying. Nothing of that batch is committed, and the next attributor of the group
    replays it without writing its credits twice."""
    events = stream(400)
    half = len(events) // 2
    topic, group = unique_name("events"), unique_name("attributor")
    sink = FlakySink(ClickHouseSink(ch_client))
    await produce_events(kafka_bootstrap, topic, events[:half], partitions=PARTITIONS)

    async def committed_all() -> bool:
        return await fully_committed(kafka_bootstrap, group, topic)

    first = attributor(kafka_consumer(kafka_bootstrap, topic, group), sink, topic)
    task = asyncio.create_task(first.run(), name="first attributor")
    await eventually(committed_all, within_s=40, what="first half consumed", watch=[task])
    before = await committed_offsets(kafka_bootstrap, group, topic)
    credits_before = int(
        ch_client.query("SELECT count() FROM attribution_credits").result_rows[0][0]
    )

    sink.go_down(tables={"events"})  # events are written last in a batch
    await produce_events(kafka_bootstrap, topic, events[half:], partitions=PARTITIONS)
    await eventually(retried(first, 3), within_s=30, what="3 retries", watch=[task])
    [(credits_now,)] = ch_client.query("SELECT count() FROM attribution_credits").result_rows
    assert credits_now > credits_before, "the batch's credits should be written already"
    first.stop()  # SIGTERM during the outage: the retry gives up, nothing is committed
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(task, timeout=30)
    assert await committed_offsets(kafka_bootstrap, group, topic) == before
    assert stored_events(ch_client) == half

    sink.come_back()
    # Its batches are cut differently, so the replay's dedup tokens differ from the first
    # attempt's: only the high-water marks keep the credits from being written twice.
    second = attributor(kafka_consumer(kafka_bootstrap, topic, group), sink, topic, 170)
    task = asyncio.create_task(second.run(), name="second attributor")
    try:
        await eventually(committed_all, within_s=40, what="the rest consumed", watch=[task])
    finally:
        second.stop()
        await asyncio.wait_for(task, timeout=30)
    assert_stored_exactly_once(ch_client, events, MODELS)


# -- the same guarantee on the embedded bus (no Kafka) -------------------------------------


async def send(bus: LocalBus, topic: str, events: Sequence[EventBase]) -> None:
    await bus.send_batch(topic, [encode_event(e) for e in events])


@pytest.mark.timeout(60)
async def test_local_bus_offsets_wait_for_the_store_and_nothing_is_lost(
    tmp_path: Path, ch_client: Client
) -> None:
    events = stream(300)
    half = len(events) // 2
    topic, group = "events", "attributor"
    log = LocalLog(tmp_path / "bus", default_partitions=PARTITIONS)
    bus = LocalBus(log)
    await bus.start()
    sink = FlakySink(ClickHouseSink(ch_client))
    await send(bus, topic, events[:half])
    worker = attributor(bus.consumer([topic], group), sink, topic)
    task = asyncio.create_task(worker.run(), name="attributor")
    parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    def committed() -> dict[TopicPartition, int | None]:
        return {tp: log.committed(group, tp) for tp in parts}

    def committed_all() -> bool:
        return all((log.committed(group, tp) or 0) >= log.end_offset(tp) for tp in parts)

    try:
        await eventually(committed_all, within_s=30, what="first half consumed", watch=[task])
        before = committed()
        sink.go_down()
        await send(bus, topic, events[half:])
        for at_least in (3, 8):
            await eventually(
                retried(worker, at_least), within_s=30, what=f"{at_least} retries", watch=[task]
            )
            assert committed() == before
            assert stored_events(ch_client) == half
        sink.come_back()
        await eventually(committed_all, within_s=30, what="the rest consumed", watch=[task])
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=30)
        await bus.stop()
    assert_stored_exactly_once(ch_client, events, MODELS)

"""Two attributors in one consumer group share the partitions; when one dies, the other takes
over, and the credits are those of a single attributor that never stopped.

Both run in this process, each with its own `KafkaConsumerBus` and its own ClickHouse client
on the same database (two processes would share a ClickHouse server the same way). The one
that dies does so in the worst place: its batch is written to ClickHouse, its offsets are not
committed. The survivor must replay that batch from the last commit without writing any row
twice (the high-water marks), with the journey state rebuilt from the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from attribution.columns import Model
from schemas.events import EventBase
from services.attributor.service import Attributor, AttributorConfig
from services.attributor.sink import ClickHouseSink, Columns
from services.bus.kafka_bus import KafkaConsumerBus
from services.bus.records import Record, TopicPartition
from services.clock import FixedClock
from services.simulation.journeys import Mix, canonical_events, plan_journeys
from services.store.clickhouse import connect
from tests.services.kafka_broker import (
    assert_stored_exactly_once,
    eventually,
    fully_committed,
    produce_events,
    unique_name,
)

pytestmark = pytest.mark.kafka

MODELS = (Model.LAST_TOUCH, Model.LINEAR)
START_MS = 1_795_300_000_000
PARTITIONS = 4


class Crash(Exception):
    """The process dies here (after a write, before the commit)."""


class CrashingSink:
    """A `ClickHouseSink` that, once armed, dies right after writing a batch's events (the
    last write of a batch): everything of the batch is stored, nothing is committed."""

    def __init__(self, inner: ClickHouseSink) -> None:
        self.inner = inner
        self.armed = False
        self.stored_not_committed = 0  # events of the batch it died in

    def write(self, table: str, columns: Columns, token: str) -> None:
        self.inner.write(table, columns, token)
        if self.armed and table == "events":
            self.stored_not_committed = len(columns["event_id"])
            raise Crash("written, not committed")

    def high_water_marks(self, topic: str, partitions: Sequence[int]) -> dict[str, dict[int, int]]:
        return self.inner.high_water_marks(topic, partitions)

    def read_events(self, topic: str, partitions: Sequence[int], since_ms: int) -> list[Record]:
        return self.inner.read_events(topic, partitions, since_ms)

    def query_rows(self, sql: str, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.inner.query_rows(sql, parameters)


@dataclass
class Member:
    """One attributor of the group, as its own process would run it."""

    name: str
    attributor: Attributor
    sink: CrashingSink
    assigned: list[frozenset[TopicPartition]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self.attributor.run(), name=self.name)
        return self.task

    @property
    def holds(self) -> frozenset[TopicPartition]:
        return self.assigned[-1] if self.assigned else frozenset()

    def sample(self, name: str) -> float:
        return self.attributor.metrics.registry.get_sample_value(name) or 0.0


def member(
    name: str, bootstrap: str, topic: str, group: str, client: Client, clock: FixedClock
) -> Member:
    consumer = KafkaConsumerBus(
        bootstrap_servers=bootstrap,
        topics=[topic],
        group_id=group,
        client_id=name,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
    )
    sink = CrashingSink(ClickHouseSink(client))
    config = AttributorConfig(
        events_topic=topic,
        dlq_topic=f"{topic}.dlq",
        models=MODELS,
        batch_max_records=150,  # many batches: the crash leaves work for the survivor
        batch_max_ms=50,
    )
    attributor = Attributor(consumer, sink, clock, config)
    joined = Member(name, attributor, sink)

    async def on_assigned(partitions: frozenset[TopicPartition]) -> None:
        joined.assigned.append(partitions)  # runs after the attributor's own rebuild

    consumer.on_assigned(on_assigned)
    return joined


def stream() -> list[EventBase]:
    plans = plan_journeys(600, seed=5, span_s=86_400, mix=Mix(reverse=0.0))
    return sorted(canonical_events(plans, START_MS, seed=5), key=lambda e: e.ts)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("death", ["crash-after-write", "graceful-stop"])
async def test_two_members_share_partitions_and_the_survivor_takes_over(
    kafka_bootstrap: str, chdb_url: str, ch_database: str, ch_client: Client, death: str
) -> None:
    events = stream()
    third = len(events) // 3
    phases = [events[:third], events[third : 2 * third], events[2 * third :]]
    topic, group = unique_name("events"), unique_name("attributors")
    everything = frozenset(TopicPartition(topic, p) for p in range(PARTITIONS))
    clock = FixedClock(START_MS + 2 * 86_400_000)  # after the stream, well within retention
    a = member("attributor-a", kafka_bootstrap, topic, group, connect(chdb_url, ch_database), clock)
    b = member("attributor-b", kafka_bootstrap, topic, group, connect(chdb_url, ch_database), clock)

    async def committed_all() -> bool:
        return await fully_committed(kafka_bootstrap, group, topic)

    await produce_events(kafka_bootstrap, topic, phases[0], partitions=PARTITIONS)
    a_task = a.start()
    try:
        await eventually(committed_all, within_s=40, what="A consumed phase 1", watch=[a_task])
        assert a.holds == everything

        b_task = b.start()
        await eventually(
            lambda: bool(a.holds) and bool(b.holds) and a.holds | b.holds == everything,
            within_s=30,
            what="the group rebalanced over A and B",
            watch=[a_task, b_task],
        )
        assert not a.holds & b.holds, "a partition was assigned to both members"

        await produce_events(kafka_bootstrap, topic, phases[1], partitions=PARTITIONS)
        await eventually(
            committed_all, within_s=40, what="A and B consumed phase 2", watch=[a_task, b_task]
        )
        for m in (a, b):
            assert m.sample("partnerstream_attributor_batches_total") > 0, f"{m.name} was idle"

        if death == "crash-after-write":
            b.sink.armed = True  # B dies after writing its next batch, before committing it
        await produce_events(kafka_bootstrap, topic, phases[2], partitions=PARTITIONS)
        if death == "graceful-stop":
            b.attributor.stop()  # SIGTERM: B finishes its batch, commits, leaves the group
        await eventually(b_task.done, within_s=30, what=f"B ended ({death})", watch=[a_task])
        if death == "crash-after-write":
            assert isinstance(b_task.exception(), Crash)
            # Those events are stored, but B's offsets for them are not committed: the group
            # hands them to A, which must not store or credit them a second time.
            assert b.sink.stored_not_committed > 0
        else:
            assert b_task.exception() is None
        await eventually(
            lambda: a.holds == everything,
            within_s=30,
            what="A took B's partitions over",
            watch=[a_task],
        )
        await eventually(committed_all, within_s=40, what="A consumed everything", watch=[a_task])
    finally:
        a.attributor.stop()
        await asyncio.wait_for(a_task, timeout=30)

    assert a.sample("partnerstream_state_rebuilds_total") >= 3  # alone, shared, alone again
    assert_stored_exactly_once(ch_client, events, MODELS)

"""LocalBus + LocalConsumer end to end over one LocalLog."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.bus.errors import BusClosed, CommitFailed
from services.bus.local_bus import LocalBus, LocalConsumer
from services.bus.local_log import LocalLog
from services.bus.protocols import EventConsumer, EventProducer
from services.bus.records import Record, TopicPartition

T = "events.v1"


async def drain(consumer: LocalConsumer, expected: int) -> list[Record]:
    records: list[Record] = []
    while len(records) < expected:
        batch = await consumer.getmany(max_records=7, timeout_ms=2000)
        assert batch, f"timed out after {len(records)} of {expected} records"
        for tp, part in batch.items():
            assert all(r.topic_partition == tp for r in part)
            records.extend(part)
    return records


def test_backends_satisfy_the_protocols(tmp_path: Path) -> None:
    bus = LocalBus(LocalLog(tmp_path))
    assert isinstance(bus, EventProducer)
    assert isinstance(bus.consumer([T], "g"), EventConsumer)


async def test_round_trip_keeps_order_per_key_and_fires_callbacks(tmp_path: Path) -> None:
    bus = LocalBus(LocalLog(tmp_path, default_partitions=4))
    consumer = bus.consumer([T], "attributor")
    assigned: list[frozenset[TopicPartition]] = []
    revoked: list[frozenset[TopicPartition]] = []

    async def on_assigned(tps: frozenset[TopicPartition]) -> None:
        assigned.append(tps)

    async def on_revoked(tps: frozenset[TopicPartition]) -> None:
        revoked.append(tps)

    consumer.on_assigned(on_assigned)
    consumer.on_revoked(on_revoked)
    await bus.start()
    await consumer.start()
    everything = frozenset(TopicPartition(T, p) for p in range(4))
    assert assigned == [everything]
    assert consumer.assignment() == everything

    sent = [(b"device-%d" % (i % 5), b"%03d" % i) for i in range(60)]
    for start in range(0, 60, 12):
        await bus.send_batch(T, sent[start : start + 12])
    records = await drain(consumer, 60)
    assert sorted(r.value for r in records) == sorted(v for _, v in sent)
    for key in {k for k, _ in sent}:
        got = [r for r in records if r.key == key]
        assert len({r.partition for r in got}) == 1
        assert [r.value for r in got] == [v for k, v in sent if k == key]
    await consumer.stop()
    assert revoked == [everything]
    await bus.stop()


async def test_getmany_wakes_on_append_without_waiting_for_the_timeout(tmp_path: Path) -> None:
    bus = LocalBus(LocalLog(tmp_path, default_partitions=2))
    consumer = bus.consumer([T], "g")
    await bus.start()
    await consumer.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.ensure_future(consumer.getmany(max_records=10, timeout_ms=10_000))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await bus.send_batch(T, [(b"k", b"hello")])
    batch = await asyncio.wait_for(waiting, 2)
    assert loop.time() - started < 2
    assert [r.value for records in batch.values() for r in records] == [b"hello"]
    assert await consumer.getmany(max_records=10, timeout_ms=20) == {}
    await consumer.stop()
    await bus.stop()


async def test_restarted_consumer_resumes_after_committed_offset(tmp_path: Path) -> None:
    log = LocalLog(tmp_path, default_partitions=3)
    bus = LocalBus(log)
    await bus.start()
    await bus.send_batch(T, [(b"k%d" % i, b"first-%d" % i) for i in range(9)])

    consumer = bus.consumer([T], "attributor")
    await consumer.start()
    first = await drain(consumer, 9)
    await consumer.commit({r.topic_partition: r.offset + 1 for r in first})
    await consumer.stop()
    await bus.stop()

    bus = LocalBus(LocalLog(tmp_path, default_partitions=3))  # a new process
    await bus.start()
    await bus.send_batch(T, [(b"k%d" % i, b"second-%d" % i) for i in range(6)])
    consumer = bus.consumer([T], "attributor")
    await consumer.start()
    second = await drain(consumer, 6)
    assert sorted(r.value for r in second) == sorted(b"second-%d" % i for i in range(6))
    assert await consumer.getmany(max_records=100, timeout_ms=20) == {}

    other = bus.consumer([T], "another-group")  # a new group starts at the beginning
    await other.start()
    assert len(await drain(other, 15)) == 15
    await other.stop()
    await consumer.stop()
    await bus.stop()


async def test_commit_of_unassigned_partition_is_refused(tmp_path: Path) -> None:
    bus = LocalBus(LocalLog(tmp_path, default_partitions=2))
    consumer = bus.consumer([T], "g")
    await consumer.start()
    with pytest.raises(CommitFailed):
        await consumer.commit({TopicPartition("other-topic", 0): 1})
    await consumer.stop()
    with pytest.raises(BusClosed):
        await consumer.getmany(max_records=1, timeout_ms=1)
    with pytest.raises(BusClosed):
        await bus.send_batch(T, [(b"k", b"v")])


async def test_lag_counts_the_records_not_read_yet(tmp_path: Path) -> None:
    bus = LocalBus(LocalLog(tmp_path, default_partitions=2))
    consumer = bus.consumer([T], "lag")
    await bus.start()
    await consumer.start()
    await bus.send_batch(T, [(b"k%d" % i, b"v") for i in range(10)])
    assert consumer.lag() == {T: 10}
    await drain(consumer, 10)
    assert consumer.lag() == {T: 0}
    await consumer.stop()
    await bus.stop()

"""BatchingSender: concurrent sends share per-partition batches, keep each partition's order,
and report exactly which items a failed batch took down."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from aiokafka.errors import NotLeaderForPartitionError
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bus.errors import BusClosed, DeliveryFailed
from services.bus.kafka_batches import BatchingSender
from services.bus.partitioning import murmur2, partitions_for_keys

PARTITIONS = 4


class FakeBatch:
    def __init__(self, capacity: int) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.capacity = capacity
        self.closed = False

    def append(self, *, timestamp: None, key: bytes, value: bytes) -> object | None:
        if self.closed or len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    """Stands in for AIOKafkaProducer's batch API; `fail` maps a partition to the error its
    batches fail with; `hold` keeps deliveries pending until released."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self.handed: list[tuple[int, list[tuple[bytes, bytes]]]] = []
        self.fail: dict[int, Exception] = {}
        self.hold = asyncio.Event()
        self.hold.set()
        self.settling: set[asyncio.Task[None]] = set()

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.capacity)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        assert batch.closed
        self.handed.append((partition, batch.records))
        loop = asyncio.get_running_loop()
        delivery: asyncio.Future[None] = loop.create_future()

        async def settle() -> None:
            await self.hold.wait()
            if partition in self.fail:
                delivery.set_exception(self.fail[partition])
            else:
                delivery.set_result(None)

        self.settling.add(loop.create_task(settle()))
        return delivery


def partition_of(key: bytes) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


@given(st.lists(st.binary(max_size=64), max_size=60), st.integers(1, 50))
@settings(max_examples=200, deadline=None)
def test_partitions_match_kafkas_default_partitioner(keys: list[bytes], partitions: int) -> None:
    expected = [DefaultPartitioner()(key, list(range(partitions)), []) for key in keys]
    assert partitions_for_keys(keys, partitions) == expected


def test_vectorised_path_matches_for_many_keys_of_one_length() -> None:
    keys = [b"v:" + os.urandom(18).hex().encode() for _ in range(500)]
    assert partitions_for_keys(keys, 12) == [
        DefaultPartitioner()(key, list(range(12)), []) for key in keys
    ]


async def test_concurrent_sends_share_one_batch_per_partition() -> None:
    producer = FakeProducer()
    sender = BatchingSender(producer, linger_ms=5, max_batch_bytes=1 << 20)
    sender.start()
    calls = [[(f"k{c}-{i}".encode(), f"{c}:{i}".encode()) for i in range(10)] for c in range(20)]
    await asyncio.gather(*(sender.send("t", items) for items in calls))
    await sender.close()
    assert len(producer.handed) <= PARTITIONS  # 200 records, one batch per partition
    delivered = {value for _, records in producer.handed for _, value in records}
    assert delivered == {value for items in calls for _, value in items}
    for partition, records in producer.handed:
        assert all(partition_of(key) == partition for key, _ in records)


async def test_a_keys_records_keep_their_order_across_calls_and_full_batches() -> None:
    producer = FakeProducer(capacity=3)  # batches fill up: several per partition and flush
    sender = BatchingSender(producer, linger_ms=0, max_batch_bytes=1 << 20)
    sender.start()
    keys = [b"visitor-a", b"visitor-b", b"visitor-c"]
    sends = [sender.send("t", [(key, f"{n}".encode()) for key in keys]) for n in range(12)]
    await asyncio.gather(*sends)
    await sender.close()
    for key in keys:
        values = [int(v) for _, records in producer.handed for k, v in records if k == key]
        assert values == list(range(12))


async def test_a_failed_partition_fails_only_the_calls_with_items_in_it() -> None:
    producer = FakeProducer()
    keys = [f"key-{i}".encode() for i in range(40)]
    bad = partition_of(keys[0])
    producer.fail[bad] = NotLeaderForPartitionError()
    sender = BatchingSender(producer, linger_ms=1, max_batch_bytes=1 << 20)
    sender.start()
    clean = [(k, b"x") for k in keys if partition_of(k) != bad][:5]
    mixed = [(k, b"y") for k in keys[:12]]
    results = await asyncio.gather(
        sender.send("t", clean), sender.send("t", mixed), return_exceptions=True
    )
    await sender.close()
    assert results[0] is None
    failure = results[1]
    assert isinstance(failure, DeliveryFailed)
    assert failure.retriable is True  # NotLeaderForPartition is retriable
    assert failure.delivered == frozenset(
        i for i, (key, _) in enumerate(mixed) if partition_of(key) != bad
    )


async def test_a_non_retriable_failure_is_reported_as_such() -> None:
    producer = FakeProducer()
    producer.fail = {p: ValueError("boom") for p in range(PARTITIONS)}  # not a KafkaError
    sender = BatchingSender(producer, linger_ms=0, max_batch_bytes=1 << 20)
    sender.start()
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send("t", [(b"k", b"v")])
    assert failed.value.retriable is False
    assert failed.value.delivered == frozenset()
    await sender.close()


async def test_close_delivers_what_is_pending_then_refuses() -> None:
    producer = FakeProducer()
    producer.hold.clear()
    sender = BatchingSender(producer, linger_ms=50, max_batch_bytes=1 << 20)
    sender.start()
    pending = asyncio.ensure_future(sender.send("t", [(b"k", b"v")]))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(sender.close())
    await asyncio.sleep(0.01)
    assert not pending.done()  # waits for the broker, not dropped
    producer.hold.set()
    await closing
    assert pending.done()
    assert pending.exception() is None
    with pytest.raises(BusClosed):
        await sender.send("t", [(b"k", b"w")])


async def test_max_batch_bytes_cuts_the_linger_short() -> None:
    producer = FakeProducer()
    sender = BatchingSender(producer, linger_ms=10_000, max_batch_bytes=1024)
    sender.start()
    await asyncio.wait_for(sender.send("t", [(b"k", b"v" * 2048)]), timeout=2)
    await sender.close()

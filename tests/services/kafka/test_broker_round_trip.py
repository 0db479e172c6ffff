"""The real broker started by `make test`: produce, consume, commit, resume."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

pytestmark = pytest.mark.kafka


async def test_produce_consume_commit_and_resume(kafka_bootstrap: str) -> None:
    topic, group = f"rt-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type="zstd",
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, f"m{i}".encode(), key=b"visitor-1") for i in range(10)
        ]
        metas = [await f for f in futures]
    finally:
        await producer.stop()
    assert len({m.partition for m in metas}) == 1  # one key, one partition
    assert [m.offset for m in metas] == sorted(m.offset for m in metas)

    async def consume(n: int) -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            while len(got) < n:
                batch = await consumer.getmany(timeout_ms=5000, max_records=n - len(got))
                if not batch:
                    break
                for records in batch.values():
                    got.extend(r.value for r in records)
            tp = TopicPartition(topic, metas[0].partition)
            await consumer.commit({tp: metas[0].offset + len(got) + consumed})
        finally:
            await consumer.stop()
        return got

    consumed = 0
    first = await consume(4)
    assert first == [b"m0", b"m1", b"m2", b"m3"]
    consumed = 4
    second = await consume(6)
    assert second == [f"m{i}".encode() for i in range(4, 10)]  # resumed after the commit

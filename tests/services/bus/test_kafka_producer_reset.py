"""A producer whose idempotent session broke (OutOfOrderSequenceNumber after a broker outage)
is replaced by a fresh one on the next send (aio-libs/aiokafka#1017)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from services.bus import kafka_bus
from services.bus.errors import BusClosed, DeliveryFailed
from services.bus.kafka_bus import KafkaProducerBus


class FakeProducer:
    instances: ClassVar[list[FakeProducer]] = []
    broken_first: ClassVar[bool] = True

    def __init__(self, **options: Any) -> None:
        self.stopped = False
        self.broken = FakeProducer.broken_first and not FakeProducer.instances
        self.sent: list[bytes] = []
        FakeProducer.instances.append(self)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.broken:
            future.set_exception(OutOfOrderSequenceNumber())
        else:
            self.sent.extend(batch.values)
            future.set_result(None)
        return future


class FakeBatch:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def append(self, *, timestamp: None, key: bytes, value: bytes) -> object:
        self.values.append(value)
        return object()

    def close(self) -> None:
        return None


@pytest.fixture
async def bus(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[KafkaProducerBus]:
    FakeProducer.instances = []
    monkeypatch.setattr(kafka_bus, "AIOKafkaProducer", FakeProducer)
    bus = KafkaProducerBus(bootstrap_servers="127.0.0.1:1")
    await bus.start()
    yield bus
    await bus.stop()


async def test_a_broken_producer_is_replaced_and_the_next_send_goes_through(
    bus: KafkaProducerBus,
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await bus.send_batch("t", [(b"k", b"v1")])
    assert failed.value.retriable is False
    first = FakeProducer.instances[0]
    assert first.stopped  # the broken session was dropped
    await bus.send_batch("t", [(b"k", b"v2")])  # a new producer, a new producer id
    assert len(FakeProducer.instances) == 2
    assert FakeProducer.instances[1].sent == [b"v2"]


async def test_submit_also_replaces_a_broken_producer_and_the_next_submit_goes_through(
    bus: KafkaProducerBus,
) -> None:
    """``submit`` (what the spooling producer calls, no task per send) resets like
    ``send_batch``: in the background, so the next submit starts a fresh producer."""
    with pytest.raises(DeliveryFailed) as failed:
        await bus.submit("t", [(b"k", b"v1")])
    assert failed.value.retriable is False
    for _ in range(5):  # the reset task runs on the next turns of the loop
        await asyncio.sleep(0)
    assert FakeProducer.instances[0].stopped
    await bus.submit("t", [(b"k", b"v2")])
    assert len(FakeProducer.instances) == 2
    assert FakeProducer.instances[1].sent == [b"v2"]
    await bus.stop()
    with pytest.raises(BusClosed, match="not started"):
        await bus.submit("t", [(b"k", b"v3")])

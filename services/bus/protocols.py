"""The two roles every bus backend plays, as structural protocols.

Producers (``KafkaProducerBus``, ``LocalBus``, ``SpoolingProducer``) and consumers
(``KafkaConsumerBus``, ``LocalConsumer``) are swapped by configuration; the collector and
the attributor see only these protocols.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from services.bus.records import Record, TopicPartition

RebalanceCallback = Callable[[frozenset[TopicPartition]], Awaitable[None]]
"""Called with the partitions just assigned to (or revoked from) a consumer."""


@runtime_checkable
class EventProducer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send_batch(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        """Produce ``(key, value)`` items to ``topic``.

        Returns only when every item is durable: acknowledged by the broker (acks=all) or
        fsync'd to a local log. Items with the same key go to the same partition and keep
        their order, also across calls made one after the other. Raises a ``BusError``
        if the items could not be made durable; then none, some or all of them may be.
        """
        ...


@runtime_checkable
class SubmittingProducer(Protocol):
    """A producer that can also hand over a send without a coroutine of its own."""

    def submit(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> asyncio.Future[None]:
        """``send_batch`` as a future: resolved when it would return, failed with what it
        would raise. Cheaper than a task per call when each call carries one record."""
        ...


@runtime_checkable
class EventConsumer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(
        self, max_records: int, timeout_ms: int
    ) -> dict[TopicPartition, list[Record]]:
        """Up to ``max_records`` records, waiting at most ``timeout_ms`` if none is ready.

        Records of a partition come in offset order; an empty dict means nothing arrived.
        """
        ...

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit, per partition, the offset of the NEXT record to read (last + 1)."""
        ...

    def assignment(self) -> frozenset[TopicPartition]: ...

    def lag(self) -> dict[str, int]:
        """Records not consumed yet, per topic, over the assigned partitions (as last seen)."""
        ...

    def on_assigned(self, callback: RebalanceCallback) -> None:
        """Register ``callback`` to run when partitions are assigned to this consumer."""
        ...

    def on_revoked(self, callback: RebalanceCallback) -> None:
        """Register ``callback`` to run before partitions are taken from this consumer.

        Revocation callbacks run before the hand-over, so a consumer may still flush and
        commit what it processed for those partitions.
        """
        ...

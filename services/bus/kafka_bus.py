"""The Kafka backend: ``KafkaProducerBus``, ``KafkaConsumerBus`` and ``ensure_topics``.

Producer: idempotent (``enable_idempotence=True``, ``acks="all"``), zstd-compressed, with
``linger_ms``/``max_batch_size`` batching. ``send_batch`` goes through a ``BatchingSender``
(services/bus/kafka_batches.py): the items of all concurrent calls are grouped into one record
batch per partition and handed to aiokafka whole, so a call costs a share of one round of
batches, never one round trip (nor one aiokafka ``send``) per item. The partition is Kafka's
default (murmur2 of the key, as in the Java client), so one key always lands in one
partition; with idempotence the broker keeps the order of a partition's batches even when
they are retried.

Consumer: ``enable_auto_commit=False`` and ``auto_offset_reset="earliest"``; the caller
commits explicitly after its own write succeeded (commit-after-write). Rebalances are
bridged to the ``on_assigned``/``on_revoked`` callbacks; ``stop`` also runs the revoked
callbacks for the partitions it still holds, as ``LocalConsumer`` does. aiokafka logs and
swallows exceptions raised by a callback during a rebalance.

aiokafka objects are bound to the running loop, so they are created in ``start``; a bus
can be started again after ``stop`` or after a failed ``start``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError

from services.bus.errors import (
    BusClosed,
    BusError,
    BusUnavailable,
    CommitFailed,
    DeliveryFailed,
    is_retriable,
)
from services.bus.kafka_batches import BatchingSender
from services.bus.protocols import RebalanceCallback
from services.bus.records import Record, TopicPartition

DEFAULT_LINGER_MS = 5
_new = tuple.__new__  # Record is a NamedTuple: this is what its __new__ calls
DEFAULT_MAX_BATCH_SIZE = 256 * 1024


class KafkaProducerBus:
    """An ``EventProducer`` over ``AIOKafkaProducer``."""

    def __init__(
        self,
        *,
        bootstrap_servers: str | Sequence[str],
        client_id: str = "partnerstream",
        acks: int | str = "all",
        enable_idempotence: bool = True,
        compression_type: str | None = "zstd",
        linger_ms: int = DEFAULT_LINGER_MS,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_request_size: int = 1024 * 1024,
        request_timeout_ms: int = 30_000,
        retry_backoff_ms: int = 100,
        metadata_max_age_ms: int = 300_000,
    ) -> None:
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "acks": acks,
            "enable_idempotence": enable_idempotence,
            "compression_type": compression_type,
            "linger_ms": linger_ms,
            "max_batch_size": max_batch_size,
            "max_request_size": max_request_size,
            "request_timeout_ms": request_timeout_ms,
            "retry_backoff_ms": retry_backoff_ms,
            "metadata_max_age_ms": metadata_max_age_ms,
        }
        self._producer: Any = None
        self._sender: BatchingSender | None = None
        self._started = False  # between start() and stop(), even while the producer is reset
        self._resets: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect; raises ``BusUnavailable`` if the cluster cannot be reached."""
        self._started = True
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(**self._options)
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            raise BusUnavailable(f"Kafka producer cannot start: {exc}") from exc
        except BaseException:  # cancelled (e.g. a start deadline): do not leak connections
            await producer.stop()
            raise
        self._producer = producer
        self._sender = BatchingSender(
            producer,
            linger_ms=self._options["linger_ms"],
            max_batch_bytes=self._options["max_batch_size"],
        )
        self._sender.start()

    async def stop(self) -> None:
        """Deliver what is buffered (waiting up to the request timeout), then disconnect."""
        self._started = False
        producer, self._producer = self._producer, None
        sender, self._sender = self._sender, None
        if sender is not None:
            await sender.close()
        if producer is not None:
            await producer.stop()

    async def _reset(self, producer: Any) -> None:
        """Drop a producer whose idempotent session is broken; the next send starts afresh.

        After a broker outage longer than the request timeout, aiokafka expires in-flight
        batches yet advances their sequence numbers, and every later produce to those
        partitions fails with OutOfOrderSequenceNumber (not retriable) until the producer is
        replaced (aio-libs/aiokafka#1017). A new producer gets a new producer id. The broker
        rejected the failed batches, so nothing is duplicated by starting over.
        """
        if self._producer is producer:
            self._producer = None
            sender, self._sender = self._sender, None
            if sender is not None:
                sender.refuse_new()
            await producer.stop()  # fails what it still holds: the sender's waits end
            if sender is not None:
                await sender.close()

    async def send_batch(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        if self._producer is None and self._started:
            await self.start()  # after a reset; BusUnavailable while the broker is still away
        producer, sender = self._producer, self._sender
        if producer is None or sender is None:
            raise BusClosed("KafkaProducerBus is not started")
        try:
            await sender.send(topic, items)
        except DeliveryFailed as exc:
            if not exc.retriable:
                await self._reset(producer)
            raise

    def submit(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> asyncio.Future[None]:
        """``send_batch`` as a future, without a task of its own while the producer runs
        (a click's one record costs less than the task would); see ``SubmittingProducer``."""
        producer, sender = self._producer, self._sender
        loop = asyncio.get_running_loop()
        if producer is None or sender is None:  # stopped, or restarting after a reset
            return loop.create_task(self.send_batch(topic, items))
        try:
            sent = sender.submit(topic, items)
        except BusError as exc:
            failed: asyncio.Future[None] = loop.create_future()
            failed.set_exception(exc)
            return failed
        sent.add_done_callback(functools.partial(self._after_submit, producer))
        return sent

    def _after_submit(self, producer: Any, sent: asyncio.Future[None]) -> None:
        if sent.cancelled():
            return
        exc = sent.exception()
        if isinstance(exc, DeliveryFailed) and not exc.retriable:
            reset = asyncio.get_running_loop().create_task(self._reset(producer))
            self._resets.add(reset)
            reset.add_done_callback(self._resets.discard)


class _RebalanceBridge(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaConsumerBus) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._owner._fire(self._owner._revoked_callbacks, _ours(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._owner._fire(self._owner._assigned_callbacks, _ours(assigned))


def _ours(partitions: Any) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(tp.topic, tp.partition) for tp in partitions)


class KafkaConsumerBus:
    """An ``EventConsumer`` over ``AIOKafkaConsumer`` with manual commits."""

    def __init__(
        self,
        *,
        bootstrap_servers: str | Sequence[str],
        topics: Sequence[str],
        group_id: str,
        client_id: str = "partnerstream",
        isolation_level: str = "read_committed",
        auto_offset_reset: str = "earliest",
        max_partition_fetch_bytes: int = 1024 * 1024,
        fetch_max_wait_ms: int = 500,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        max_poll_interval_ms: int = 300_000,
        request_timeout_ms: int = 40_000,
    ) -> None:
        self.topics = tuple(topics)
        self.group_id = group_id
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": group_id,
            "client_id": client_id,
            "enable_auto_commit": False,
            "auto_offset_reset": auto_offset_reset,
            "isolation_level": isolation_level,
            "max_partition_fetch_bytes": max_partition_fetch_bytes,
            "fetch_max_wait_ms": fetch_max_wait_ms,
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
            "request_timeout_ms": request_timeout_ms,
        }
        self._consumer: Any = None
        self._next: dict[TopicPartition, int] = {}  # next offset to read, from fetches
        self._assigned_callbacks: list[RebalanceCallback] = []
        self._revoked_callbacks: list[RebalanceCallback] = []

    def on_assigned(self, callback: RebalanceCallback) -> None:
        self._assigned_callbacks.append(callback)

    def on_revoked(self, callback: RebalanceCallback) -> None:
        self._revoked_callbacks.append(callback)

    async def _fire(
        self, callbacks: list[RebalanceCallback], partitions: frozenset[TopicPartition]
    ) -> None:
        for callback in callbacks:
            await callback(partitions)

    async def start(self) -> None:
        if self._consumer is not None:
            return
        consumer = AIOKafkaConsumer(**self._options)
        consumer.subscribe(list(self.topics), listener=_RebalanceBridge(self))
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise BusUnavailable(f"Kafka consumer cannot start: {exc}") from exc
        self._consumer = consumer

    async def stop(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        try:
            held = self.assignment()
            if held:
                await self._fire(self._revoked_callbacks, held)
        finally:
            self._consumer = None
            await consumer.stop()

    def _require(self) -> Any:
        if self._consumer is None:
            raise BusClosed("KafkaConsumerBus is not started")
        return self._consumer

    def lag(self) -> dict[str, int]:
        """High watermark minus the next offset to read, per topic, from the last fetches."""
        consumer = self._consumer
        out: dict[str, int] = {}
        if consumer is None:
            return out
        for tp in self.assignment():
            high = consumer.highwater(KafkaTopicPartition(tp.topic, tp.partition))
            position = self._next.get(tp)
            if high is not None and position is not None:
                out[tp.topic] = out.get(tp.topic, 0) + max(0, high - position)
        return out

    def assignment(self) -> frozenset[TopicPartition]:
        return _ours(self._require().assignment())

    async def getmany(
        self, max_records: int, timeout_ms: int
    ) -> dict[TopicPartition, list[Record]]:
        try:
            batch = await self._require().getmany(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as exc:
            raise BusError(f"Kafka fetch failed: {exc}", retriable=is_retriable(exc)) from exc
        out: dict[TopicPartition, list[Record]] = {}
        for tp, records in batch.items():
            if not records:
                continue
            ours = TopicPartition(tp.topic, tp.partition)
            self._next[ours] = records[-1].offset + 1
            # one Record per record read (the hot path): built as Record(...) builds it, less
            # the Python-level call of its __new__; topic and partition hoisted
            topic, partition = tp.topic, tp.partition
            out[ours] = [
                _new(
                    Record, (topic, partition, r.offset, r.key or b"", r.value or b"", r.timestamp)
                )
                for r in records
            ]
        return out

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit synchronously. ``CommitFailed`` (not retriable) if the group rebalanced
        and these partitions may now belong to another member: drop their pending work."""
        if not offsets:
            return
        theirs = {KafkaTopicPartition(tp.topic, tp.partition): o for tp, o in offsets.items()}
        try:
            await self._require().commit(theirs)
        except CommitFailedError as exc:
            raise CommitFailed(f"commit rejected after a rebalance: {exc}") from exc
        except KafkaError as exc:
            raise CommitFailed(f"commit failed: {exc}", retriable=is_retriable(exc)) from exc


async def ensure_topics(
    bootstrap_servers: str | Sequence[str],
    topics: Mapping[str, int],
    replication: int = 1,
    *,
    request_timeout_ms: int = 30_000,
) -> None:
    """Create ``{name: partitions}`` topics that do not exist yet (existing ones are kept
    as they are, whatever their partition count)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=request_timeout_ms
    )
    try:
        await admin.start()
    except KafkaError as exc:
        await admin.close()
        raise BusUnavailable(f"Kafka admin cannot start: {exc}") from exc
    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication) for name, partitions in topics.items()]
        )
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            if code not in (0, TopicAlreadyExistsError.errno):
                message = entry[2] if len(entry) > 2 else ""
                raise BusError(f"cannot create topic {name}: error {code} {message}")
    except KafkaError as exc:
        raise BusError(f"cannot create topics: {exc}", retriable=is_retriable(exc)) from exc
    finally:
        await admin.close()

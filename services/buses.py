"""Building the event bus a deployable uses, from its settings.

- `KAFKA_BOOTSTRAP_SERVERS` set: produce to Kafka through a `SpoolingProducer` whose spool
  is a local log under `<data_dir>/spool` (events are durable even while Kafka is down), and
  consume with a `KafkaConsumerBus`.
- unset: the embedded bus, a `LocalLog` under `<data_dir>/bus`, for producer and consumer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from services.bus.kafka_bus import KafkaConsumerBus, KafkaProducerBus, ensure_topics
from services.bus.local_bus import LocalBus
from services.bus.local_log import LocalLog
from services.bus.protocols import EventConsumer, EventProducer
from services.bus.spool import SpoolingProducer
from services.settings import KafkaSettings


def local_log(settings: KafkaSettings) -> LocalLog:
    return LocalLog(Path(settings.data_dir) / "bus", default_partitions=settings.topic_partitions)


def kafka_producer(settings: KafkaSettings, client_id: str) -> SpoolingProducer:
    primary = KafkaProducerBus(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        compression_type=None
        if settings.kafka_compression == "none"
        else settings.kafka_compression,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_bytes,
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )
    spool = LocalLog(Path(settings.data_dir) / "spool")
    return SpoolingProducer(
        primary,
        spool,
        deadline_ms=settings.kafka_deadline_ms,
        settle_timeout_ms=settings.kafka_request_timeout_ms * 4,
    )


def producer_for(
    settings: KafkaSettings, client_id: str, log: LocalLog | None = None
) -> EventProducer:
    if settings.uses_kafka:
        return kafka_producer(settings, client_id)
    return LocalBus(log or local_log(settings))


def consumer_for(
    settings: KafkaSettings, topics: Sequence[str], group_id: str, log: LocalLog | None = None
) -> EventConsumer:
    if settings.uses_kafka:
        return KafkaConsumerBus(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            topics=list(topics),
            group_id=group_id,
            client_id=group_id,
        )
    return LocalBus(log or local_log(settings)).consumer(list(topics), group_id)


async def prepare_topics(settings: KafkaSettings) -> None:
    """Create the topics on Kafka with the configured partition count (idempotent)."""
    if settings.uses_kafka:
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            {
                settings.events_topic: settings.topic_partitions,
                settings.dlq_topic: settings.topic_partitions,
            },
        )

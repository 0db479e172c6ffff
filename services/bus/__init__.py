"""The event bus: how the collector's events reach the attributor.

Two backends behind two small protocols (``protocols.py``):

* Kafka (``kafka_bus.py``): ``KafkaProducerBus`` and ``KafkaConsumerBus`` over aiokafka.
* Local (``local_bus.py``): ``LocalBus`` / ``LocalConsumer`` over ``LocalLog``
  (``local_log.py``), a durable append-only log on disk, used when no Kafka is configured.

``SpoolingProducer`` (``spool.py``) wraps a primary producer (Kafka) with a ``LocalLog`` spool
so that a request can be answered once its events are durable somewhere, even while Kafka is
down or slow; the spool is drained to Kafka, in order per key, when it comes back.
"""

from services.bus.errors import (
    BusClosed,
    BusError,
    BusUnavailable,
    CommitFailed,
    DeliveryFailed,
    InvalidName,
    LocalLogError,
    LogCorrupt,
    LogWriteFailed,
    OffsetOutOfRange,
)
from services.bus.protocols import EventConsumer, EventProducer, RebalanceCallback
from services.bus.records import Record, TopicPartition

__all__ = [
    "BusClosed",
    "BusError",
    "BusUnavailable",
    "CommitFailed",
    "DeliveryFailed",
    "EventConsumer",
    "EventProducer",
    "InvalidName",
    "LocalLogError",
    "LogCorrupt",
    "LogWriteFailed",
    "OffsetOutOfRange",
    "RebalanceCallback",
    "Record",
    "TopicPartition",
]

"""Encoding events and dead letters and handing them to the bus, keyed by partition key."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from schemas.events import EventBase
from services.bus.protocols import EventProducer
from services.collector.metrics import CollectorMetrics
from tracker.canonical import EncodedEvent
from tracker.dead_letters import DeadLetter


def encode_event(event: EventBase) -> tuple[bytes, bytes]:
    """(Kafka key, JSON value); None fields are left out to keep records small."""
    return event.partition_key().encode(), event.model_dump_json(exclude_none=True).encode()


def _labels(event: EventBase) -> tuple[str, str]:
    source = event.context.source
    return event.type, source.value if source else "unknown"  # type: ignore[attr-defined]


class Publisher:
    def __init__(
        self,
        producer: EventProducer,
        *,
        events_topic: str,
        dlq_topic: str,
        metrics: CollectorMetrics,
    ) -> None:
        self._producer = producer
        self._events_topic = events_topic
        self._dlq_topic = dlq_topic
        self._metrics = metrics

    async def publish(self, events: Sequence[EventBase | EncodedEvent]) -> None:
        """Returns once every event is durable; raises a BusError otherwise (answer 503)."""
        if not events:
            return
        started = time.perf_counter()
        records = [  # the fast path's events come encoded (tracker.canonical)
            e.record if isinstance(e, EncodedEvent) else encode_event(e) for e in events
        ]
        await self._producer.send_batch(self._events_topic, records)
        self._metrics.produce_seconds.observe(time.perf_counter() - started)
        labels = [(e.type, e.source) if isinstance(e, EncodedEvent) else _labels(e) for e in events]
        if len(labels) == 1:
            self._metrics.count_accepted(*labels[0])
        else:
            for (kind, source), n in Counter(labels).items():
                self._metrics.count_accepted(kind, source, n)

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        await self._producer.send_batch(self._dlq_topic, [(d.key, d.to_json()) for d in letters])
        for reason, n in Counter(letter.reason for letter in letters).items():
            self._metrics.events_rejected.labels(reason).inc(n)

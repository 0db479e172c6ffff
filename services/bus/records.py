"""The values that travel on the bus, the same for every backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]"


class Record(NamedTuple):
    """One record read from a topic partition.

    ``offset`` is the record's position in its partition; the offset to commit after
    processing it is ``offset + 1`` (the next one to read), as in Kafka.

    A NamedTuple, not a frozen dataclass: a consumer builds one per record read (hundreds
    of thousands per second when the attributor drains a backlog), and a frozen dataclass
    costs about three times as much to build. It is as immutable.
    """

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp_ms: int

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

"""Durable "already delivered" marks for spool records, kept in the spool itself.

When a send to the primary outlives its deadline, its items are spooled but the send is
not abandoned: if the primary acknowledges it later, the spool positions of those items are
marked delivered so that the drain skips them instead of producing them a second time. The
marks are records of the internal topic ``__spool_delivered`` (one partition) of the same
``LocalLog``, so they are fsync'd with group commit and survive a restart; they are
committed (and so become garbage for retention) once the drain has moved past them.

A mark's value is JSON: ``{"topic": "events.v1", "positions": [[partition, offset], ...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from services.bus.local_log import LocalLog
from services.bus.records import TopicPartition

MARKS_TOPIC = "__spool_delivered"
MARKS_TP = TopicPartition(MARKS_TOPIC, 0)


def encode_mark(topic: str, positions: Iterable[tuple[int, int]]) -> bytes:
    return json.dumps({"topic": topic, "positions": sorted(positions)}).encode()


def decode_mark(value: bytes) -> list[tuple[TopicPartition, int]]:
    mark = json.loads(value)
    topic = str(mark["topic"])
    return [(TopicPartition(topic, int(p)), int(o)) for p, o in mark["positions"]]


class DeliveredMarks:
    """The spool positions known to be delivered but not yet committed past."""

    def __init__(self) -> None:
        self._offsets: dict[TopicPartition, set[int]] = {}

    def __contains__(self, position: tuple[TopicPartition, int]) -> bool:
        tp, offset = position
        return offset in self._offsets.get(tp, ())

    def __len__(self) -> int:
        return sum(len(offsets) for offsets in self._offsets.values())

    def add(self, tp: TopicPartition, offset: int) -> None:
        self._offsets.setdefault(tp, set()).add(offset)

    def forget_below(self, tp: TopicPartition, offset: int) -> None:
        kept = {o for o in self._offsets.get(tp, ()) if o >= offset}
        if kept:
            self._offsets[tp] = kept
        else:
            self._offsets.pop(tp, None)

    def clear(self) -> None:
        self._offsets.clear()

    async def load(self, log: LocalLog, group: str) -> None:
        """Read the marks not yet committed by ``group`` (call after ``log.open()``)."""
        log.ensure_topic(MARKS_TOPIC, 1)
        position = max(log.committed(group, MARKS_TP) or 0, log.start_offset(MARKS_TP))
        while position < log.durable_end_offset(MARKS_TP):
            for record in await log.read(MARKS_TP, position, 10_000):
                for tp, offset in decode_mark(record.value):
                    committed = log.committed(group, tp) or 0
                    if offset >= committed:
                        self.add(tp, offset)
                position = record.offset + 1

    async def persist(self, log: LocalLog, topic: str, positions: list[tuple[int, int]]) -> None:
        """Remember ``positions`` of ``topic`` as delivered, in memory and on disk."""
        for partition, offset in positions:
            self.add(TopicPartition(topic, partition), offset)
        await log.append(MARKS_TOPIC, [(b"", encode_mark(topic, positions))])

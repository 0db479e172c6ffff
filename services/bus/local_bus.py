"""The embedded bus: ``EventProducer`` and ``EventConsumer`` over one ``LocalLog``.

Used when no Kafka is configured (a single-process deployment, development, tests). The
producer and every consumer share one ``LocalLog`` object; each opens and closes it
(the log counts its users). Guarantees are the log's: ``send_batch`` returns once the items
are fsync'd, consumers see only durable records, per key in write order.

A consumer group has ONE consumer (there is no group coordination in a single process): it
is assigned every partition of its topics when it starts and loses them when it stops,
and it starts reading each partition at the group's committed offset (or the oldest
retained record). Two ``LocalConsumer`` objects of the same group would read the same records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from services.bus.errors import BusClosed, CommitFailed, OffsetOutOfRange
from services.bus.layout import check_name
from services.bus.local_log import DEFAULT_READ_BYTES, LocalLog
from services.bus.protocols import RebalanceCallback
from services.bus.records import Record, TopicPartition


class LocalBus:
    """An ``EventProducer`` that appends to a ``LocalLog`` (group-committed fsync)."""

    def __init__(self, log: LocalLog) -> None:
        self.log = log
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await self.log.open()
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.log.close()

    async def send_batch(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        if not self._started:
            raise BusClosed("LocalBus is not started")
        await self.log.append(topic, items)

    def consumer(self, topics: Sequence[str], group_id: str) -> LocalConsumer:
        return LocalConsumer(self.log, topics, group_id)


class LocalConsumer:
    """An ``EventConsumer`` reading a ``LocalLog``; woken by appends, never polling."""

    def __init__(
        self,
        log: LocalLog,
        topics: Sequence[str],
        group_id: str,
        *,
        max_bytes: int = DEFAULT_READ_BYTES,
    ) -> None:
        self.log = log
        self.topics = tuple(check_name("topic", topic) for topic in topics)
        self.group_id = check_name("group", group_id)
        self._max_bytes = max_bytes
        self._assigned_callbacks: list[RebalanceCallback] = []
        self._revoked_callbacks: list[RebalanceCallback] = []
        self._positions: dict[TopicPartition, int] = {}
        self._started = False
        self._turn = 0

    def on_assigned(self, callback: RebalanceCallback) -> None:
        self._assigned_callbacks.append(callback)

    def on_revoked(self, callback: RebalanceCallback) -> None:
        self._revoked_callbacks.append(callback)

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self._positions)

    def lag(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for tp in self.assignment():
            behind = max(0, self.log.end_offset(tp) - self.position(tp))
            out[tp.topic] = out.get(tp.topic, 0) + behind
        return out

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record ``getmany`` returns for ``tp``."""
        return self._positions[tp]

    async def start(self) -> None:
        if self._started:
            return
        await self.log.open()
        self._started = True
        for topic in self.topics:
            for tp in self.log.topic_partitions(topic):
                committed = self.log.committed(self.group_id, tp)
                start = self.log.start_offset(tp)
                self._positions[tp] = start if committed is None else max(committed, start)
        assigned = self.assignment()
        for callback in self._assigned_callbacks:
            await callback(assigned)

    async def stop(self) -> None:
        if not self._started:
            return
        revoked = self.assignment()
        try:
            for callback in self._revoked_callbacks:
                await callback(revoked)
        finally:
            self._positions = {}
            self._started = False
            await self.log.close()

    async def getmany(
        self, max_records: int, timeout_ms: int
    ) -> dict[TopicPartition, list[Record]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            if not self._started:
                raise BusClosed("LocalConsumer is not started")
            appended = self.log.appended_event()
            batch = await self._read(max_records)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            try:
                await asyncio.wait_for(appended.wait(), remaining)
            except TimeoutError:
                return {}

    async def _read(self, max_records: int) -> dict[TopicPartition, list[Record]]:
        ready = [
            tp
            for tp, position in self._positions.items()
            if self.log.durable_end_offset(tp) > position
        ]
        if not ready:
            return {}
        # Start with a different partition each time, so that none is starved.
        self._turn = (self._turn + 1) % len(ready)
        ordered = ready[self._turn :] + ready[: self._turn]
        positions = {tp: self._positions[tp] for tp in ordered}
        for tp, position in positions.items():
            start = self.log.start_offset(tp)
            if position < start:  # retention passed us by: continue from the oldest record
                positions[tp] = self._positions[tp] = start
        try:
            batch = await self.log.read_many(positions, max_records, self._max_bytes)
        except OffsetOutOfRange:
            return {}  # retention raced the read; positions are fixed on the next call
        for tp, records in batch.items():
            if tp in self._positions:
                self._positions[tp] = records[-1].offset + 1
        return batch

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not self._started:
            raise BusClosed("LocalConsumer is not started")
        foreign = set(offsets) - set(self._positions)
        if foreign:
            raise CommitFailed(f"partitions not assigned to this consumer: {sorted(foreign)}")
        await self.log.commit(self.group_id, offsets)

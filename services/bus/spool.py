"""``SpoolingProducer``: a primary producer (Kafka) with an on-disk spool behind it.

A request is answered once its events are durable: acknowledged by the primary, or fsync'd
to the spool (a ``LocalLog``). The producer is in one of two modes:

* **direct**: ``send_batch`` sends to the primary and waits up to ``deadline_ms`` (one timer
  watches the oldest outstanding send, not one per call). Acked in time: done. If the send
  fails, or is still pending at the deadline, the producer switches
  to spool mode by TAKING OVER every send still outstanding, in the order they were made:
  their items are written to the spool (so the spool order is the submission order) and
  their callers are released once the spool has fsync'd them.
* **spool**: while the spool holds anything undelivered (or the primary has not started),
  every new item goes to the spool, behind the earlier ones, so order per key holds. A
  background drain reads the spool in order and produces to the primary, one batch at a
  time, and commits the spool offsets only after the primary acked the batch; failures back
  off exponentially (``backoff_ms``). When the spool is empty, direct mode resumes.

**No double delivery of timed-out sends.** A send taken over at its deadline is not
cancelled: it is still in the primary (aiokafka keeps retrying it until its own request
timeout). It is "settling": if the primary acks it later, the spool positions of its items
are marked delivered (``spool_marks.py``, fsync'd in the spool) and the drain skips them;
if it fails, the drain produces them. The drain sends nothing while any send is settling,
so a key's items reach the primary in their original order either way. The same applies to
the drain's own sends, and to a ``DeliveryFailed`` that names the items it did deliver
(``KafkaProducerBus`` does): those items are marked and not re-sent.

**What remains at-least-once** (the consumer deduplicates by event id):

* a send still unresolved after ``settle_timeout_ms`` (set it above the primary's own
  delivery timeout): the spool copy is produced and the late original may land too;
* a crash between the primary's ack and the fsync of the mark or of the spool commit;
* a send that failed without saying which items got through;
* a caller that got an error because the spool itself could not be written.

``stop()`` flushes for up to ``stop_timeout_ms``: in-flight sends resolve, the drain gets
the time to empty the spool, the primary is stopped (delivering or failing what it holds, so
settling sends learn their fate and are marked), then the spool is closed. What is left
stays on disk; the next ``start()`` finds a non-empty spool, begins in spool mode and drains
it before any new item goes direct.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.bus.errors import BusClosed, BusError, DeliveryFailed
from services.bus.local_log import LocalLog
from services.bus.protocols import EventProducer, SubmittingProducer
from services.bus.records import Record, TopicPartition
from services.bus.spool_marks import MARKS_TOPIC, MARKS_TP, DeliveredMarks

log = logging.getLogger(__name__)

DRAIN_GROUP = "spool-drain"

OnDelivered = Callable[[frozenset[int] | None], Awaitable[None]]
"""Called with None if every item was delivered, else with the indices that were."""


@dataclass(eq=False, slots=True)
class _DirectSend:
    topic: str
    items: Sequence[tuple[bytes, bytes]]
    task: asyncio.Future[None]  # the primary's send (a task, or the primary's own future)
    done: asyncio.Future[None]
    started: float  # loop time


class SpoolingProducer:
    """An ``EventProducer`` that never fails a request because the primary is down."""

    def __init__(
        self,
        primary: EventProducer,
        spool: LocalLog,
        deadline_ms: int = 500,
        *,
        drain_batch_records: int = 2_000,
        backoff_ms: tuple[int, int] = (100, 5_000),
        settle_timeout_ms: int = 120_000,
        start_timeout_ms: int = 10_000,
        stop_timeout_ms: int = 10_000,
    ) -> None:
        self.primary = primary
        self._submit = primary.submit if isinstance(primary, SubmittingProducer) else None
        self.spool = spool
        self._deadline_s = deadline_ms / 1000
        self._drain_batch = drain_batch_records
        self._backoff_s = (backoff_ms[0] / 1000, backoff_ms[1] / 1000)
        self._settle_timeout_s = settle_timeout_ms / 1000
        self._start_timeout_s = start_timeout_ms / 1000
        self._stop_timeout_s = stop_timeout_ms / 1000
        self._started = False
        self._closing = False
        self._primary_started = False
        self._spooling = False
        # Outstanding direct sends, oldest first; one timer watches the oldest's deadline
        self._direct: dict[_DirectSend, None] = {}
        self._watchdog: asyncio.TimerHandle | None = None
        self._settling: set[asyncio.Task[bool]] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._delivered = DeliveredMarks()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None

    # -- state for callers and metrics -----------------------------------------------

    @property
    def spooling(self) -> bool:
        """True while new items go to the spool rather than to the primary."""
        return self._spooling

    def depth(self) -> int:
        """Records in the spool not yet confirmed delivered to the primary."""
        return self.spool.lag(DRAIN_GROUP, self._data_topics()) if self.spool.is_open else 0

    def _data_topics(self) -> list[str]:
        return [topic for topic in self.spool.topics() if topic != MARKS_TOPIC]

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        await self.spool.open()
        self._closing = False
        self._delivered = DeliveredMarks()
        await self._delivered.load(self.spool, DRAIN_GROUP)
        self._wake, self._drained = asyncio.Event(), asyncio.Event()
        self._spooling = self.depth() > 0
        self._started = True
        if not await self._start_primary():
            self._spooling = True
        self._drain_task = asyncio.get_running_loop().create_task(self._drain_loop())
        self._drain_task.add_done_callback(_report_drain_end)

    async def stop(self) -> None:
        if not self._started:
            return
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._stop_timeout_s
        try:
            if self._direct:
                await asyncio.wait([s.done for s in self._direct], timeout=self._deadline_s)
                self._take_over()
            if self._background:
                await asyncio.wait(set(self._background))
            if self._spooling and self._primary_started:
                self._wake.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._drained.wait(), deadline - loop.time())
        finally:
            if self._drain_task is not None:
                self._drain_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._drain_task
                self._drain_task = None
            try:
                if self._primary_started:
                    self._primary_started = False
                    await self.primary.stop()
                if self._settling:  # the primary has stopped: they resolve at once
                    grace = max(1.0, deadline - loop.time())
                    await asyncio.wait(set(self._settling), timeout=grace)
                for settle in set(self._settling):
                    settle.cancel()
            finally:
                self._started = False
                await self.spool.close()

    async def _start_primary(self) -> bool:
        if self._primary_started:
            return True
        try:
            await asyncio.wait_for(self.primary.start(), self._start_timeout_s)
        except (BusError, OSError, TimeoutError) as exc:
            log.warning("primary producer did not start (%r); spooling", exc)
            return False
        self._primary_started = True
        return True

    # -- producing --------------------------------------------------------------------

    async def send_batch(self, topic: str, items: Sequence[tuple[bytes, bytes]]) -> None:
        if not self._started or self._closing:
            raise BusClosed("SpoolingProducer is not started")
        if not items:
            return
        if self._spooling or not self._primary_started:
            self._enter_spool_mode()
            await self.spool.append(topic, items)
            return
        loop = asyncio.get_running_loop()
        sent = (
            self._submit(topic, items)
            if self._submit is not None
            else loop.create_task(self.primary.send_batch(topic, items))
        )
        send = _DirectSend(topic, items, sent, loop.create_future(), loop.time())
        self._direct[send] = None
        send.task.add_done_callback(functools.partial(self._on_direct_done, send))
        if self._watchdog is None:
            self._watchdog = loop.call_at(send.started + self._deadline_s, self._check_deadline)
        await send.done  # resolved when acked, or once taken over and fsync'd to the spool

    def _check_deadline(self) -> None:
        """The oldest outstanding direct send is past its deadline: take them all over."""
        self._watchdog = None
        if not self._direct:
            return
        loop = asyncio.get_running_loop()
        oldest = next(iter(self._direct))
        due = oldest.started + self._deadline_s
        if loop.time() >= due:
            self._take_over()
        else:
            self._watchdog = loop.call_at(due, self._check_deadline)

    def _enter_spool_mode(self) -> None:
        if not self._spooling:
            self._spooling = True
            self._drained.clear()
            self._wake.set()

    def _on_direct_done(self, send: _DirectSend, _task: object = None) -> None:
        if send not in self._direct:
            return  # taken over: a settle task follows it
        if send.task.cancelled() or send.task.exception() is not None:
            self._take_over()
        else:
            del self._direct[send]
            _resolve(send.done)

    def _take_over(self) -> None:
        """Move every outstanding direct send to the spool, in submission order."""
        sends, self._direct = list(self._direct), {}
        if not sends:
            return
        self._enter_spool_mode()
        written: list[tuple[_DirectSend, int]] = []
        for send in sends:
            task = send.task
            if task.done() and not task.cancelled() and task.exception() is None:
                _resolve(send.done)  # acked just now; its callback has not run yet
                continue
            try:
                appended = self.spool.write(send.topic, send.items)
            except BusError as exc:
                _reject(send.done, exc)
                continue
            written.append((send, appended.seq))
            if not task.done():
                self._track(task, functools.partial(self._mark, send.topic, [*appended.positions]))
        if written:
            confirm = asyncio.get_running_loop().create_task(self._confirm(written))
            self._background.add(confirm)
            confirm.add_done_callback(self._background.discard)

    async def _confirm(self, written: list[tuple[_DirectSend, int]]) -> None:
        try:
            await self.spool.wait_durable(max(seq for _, seq in written))
        except BusError as exc:
            for send, _ in written:
                _reject(send.done, exc)
        else:
            for send, _ in written:
                _resolve(send.done)

    # -- settling sends whose outcome is not known yet ----------------------------------

    def _track(self, task: asyncio.Future[None], on_delivered: OnDelivered) -> asyncio.Task[bool]:
        settle = asyncio.get_running_loop().create_task(self._settle(task, on_delivered))
        self._settling.add(settle)
        settle.add_done_callback(self._settled)
        return settle

    def _settled(self, settle: asyncio.Task[bool]) -> None:
        self._settling.discard(settle)
        if not settle.cancelled() and settle.exception() is not None:
            log.error("recording a delivery outcome failed", exc_info=settle.exception())

    async def _settle(self, task: asyncio.Future[None], on_delivered: OnDelivered) -> bool:
        done, _ = await asyncio.wait({task}, timeout=self._settle_timeout_s)
        if not done:
            log.warning(
                "a primary send is unresolved after %.0f s; its items will be produced again "
                "from the spool (possible duplicates)",
                self._settle_timeout_s,
            )
            task.add_done_callback(_retrieve_exception)
            return False
        if task.cancelled():
            return False
        exc = task.exception()
        if exc is None:
            await on_delivered(None)
            return True
        if isinstance(exc, DeliveryFailed) and exc.delivered:
            await on_delivered(exc.delivered)
        log.info("primary send failed (%r); the spool keeps its items", exc)
        return False

    async def _mark(
        self, topic: str, positions: list[tuple[int, int]], indices: frozenset[int] | None
    ) -> None:
        if indices is not None:
            positions = [positions[i] for i in sorted(indices)]
        await self._delivered.persist(self.spool, topic, positions)

    # -- draining -----------------------------------------------------------------------

    async def _drain_loop(self) -> None:
        failures = 0
        while True:
            try:
                progressed = await self._drain_step()
            except BusError as exc:  # e.g. the spool could not be read or committed
                log.error("spool drain step failed: %r", exc)
                progressed = False
            if progressed:
                failures = 0
            else:
                failures += 1
                await asyncio.sleep(self._backoff(failures))

    async def _drain_step(self) -> bool:
        """One round of the drain; False when it failed and should back off."""
        if not self._spooling:
            self._wake.clear()
            await self._wake.wait()
            return True
        if not await self._start_primary():
            return False
        if self._settling:
            await asyncio.wait(set(self._settling))
            return True
        appended = self.spool.appended_event()
        batch = await self._read_batch()
        if batch:
            return await self._drain(batch)
        if self.depth() == 0:
            await self._leave_spool_mode()
        else:
            await appended.wait()
        return True

    def _backoff(self, failures: int) -> float:
        low, high = self._backoff_s
        return float(min(high, low * 2 ** min(failures - 1, 30)))

    async def _read_batch(self) -> dict[TopicPartition, list[Record]]:
        """The next records of ONE topic (a drain batch is one primary call)."""
        for topic in self._data_topics():
            positions = {}
            for tp in self.spool.topic_partitions(topic):
                committed = self.spool.committed(DRAIN_GROUP, tp) or 0
                position = max(committed, self.spool.start_offset(tp))
                if self.spool.durable_end_offset(tp) > position:
                    positions[tp] = position
            if positions:
                return await self.spool.read_many(positions, self._drain_batch)
        return {}

    async def _drain(self, batch: dict[TopicPartition, list[Record]]) -> bool:
        topic = next(iter(batch)).topic
        records = [
            r
            for rs in batch.values()
            for r in rs
            if (r.topic_partition, r.offset) not in self._delivered
        ]
        offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items()}

        async def on_delivered(indices: frozenset[int] | None) -> None:
            if indices is None:
                await self._commit(offsets)
            else:
                marked = [records[i] for i in sorted(indices)]
                await self._delivered.persist(
                    self.spool, topic, [(r.partition, r.offset) for r in marked]
                )

        if not records:
            await self._commit(offsets)
            return True
        items = [(r.key, r.value) for r in records]
        task = asyncio.get_running_loop().create_task(self.primary.send_batch(topic, items))
        settle = self._track(task, on_delivered)
        await asyncio.wait({settle})
        return not settle.cancelled() and settle.exception() is None and settle.result()

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        await self.spool.commit(DRAIN_GROUP, offsets)
        for tp, offset in offsets.items():
            self._delivered.forget_below(tp, offset)

    async def _leave_spool_mode(self) -> None:
        marks_end = self.spool.durable_end_offset(MARKS_TP)
        if marks_end > (self.spool.committed(DRAIN_GROUP, MARKS_TP) or 0):
            await self.spool.commit(DRAIN_GROUP, {MARKS_TP: marks_end})
        # Decide and switch in one step: no await between the check and the flag.
        if self.depth() == 0 and not self._settling and self._primary_started:
            self._spooling = False
            self._delivered.clear()
            self._drained.set()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _reject(future: asyncio.Future[None], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _retrieve_exception(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()


def _report_drain_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the spool drain stopped", exc_info=task.exception())

"""SpoolingProducer over an in-memory primary that can fail or hang.

Properties checked in every scenario: each item reaches the primary exactly once, the items
of a key reach it in the order they were sent, and ``send_batch`` never reports success
for items that are not durable somewhere.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.bus.errors import BusError
from services.bus.local_log import LocalLog
from services.bus.protocols import EventProducer
from services.bus.spool import SpoolingProducer
from tests.services.bus.bus_fakes import FakePrimary, WaitUntil

T = "events.v1"
DLQ = "events.dlq.v1"
Items = list[tuple[bytes, bytes]]


def make(path: Path, primary: EventProducer, **options: int) -> SpoolingProducer:
    spool = LocalLog(path / "spool", default_partitions=4)
    settings = {"deadline_ms": 50, "stop_timeout_ms": 2_000} | options
    return SpoolingProducer(primary, spool, backoff_ms=(5, 20), **settings)


def items(keys: int, start: int, stop: int) -> Items:
    return [(b"visitor-%d" % (i % keys), b"event-%04d" % i) for i in range(start, stop)]


def assert_exactly_once_in_order(primary: FakePrimary, sent: Sequence[tuple[bytes, bytes]]) -> None:
    delivered = [(k, v) for _, k, v in primary.delivered]
    assert sorted(v for _, v in delivered) == sorted(v for _, v in sent)  # exactly once
    for key in {k for k, _ in sent}:
        assert [v for k, v in delivered if k == key] == [v for k, v in sent if k == key]


async def send_in_batches(producer: SpoolingProducer, batch: Items, size: int = 5) -> None:
    for start in range(0, len(batch), size):
        await producer.send_batch(T, batch[start : start + size])


async def test_healthy_primary_gets_items_directly(
    tmp_path: Path, fake_primary: FakePrimary
) -> None:
    producer = make(tmp_path, fake_primary)
    await producer.start()
    sent = items(3, 0, 30)
    await send_in_batches(producer, sent)
    assert_exactly_once_in_order(fake_primary, sent)  # acked before send_batch returned
    assert fake_primary.calls == 6
    assert not producer.spooling
    assert producer.depth() == 0
    assert not list((tmp_path / "spool").rglob("*.log"))  # the spool was never written
    await producer.stop()


async def test_failing_primary_spools_then_drains_in_order(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil
) -> None:
    producer = make(tmp_path, fake_primary)
    await producer.start()
    fake_primary.mode = "fail"
    sent = items(5, 0, 50)
    await send_in_batches(producer, sent)  # every call succeeds: the items are on disk
    assert producer.spooling
    assert producer.depth() == 50
    assert fake_primary.delivered == []

    fake_primary.mode = "ok"
    await wait_until(lambda: not producer.spooling)
    assert producer.depth() == 0
    assert_exactly_once_in_order(fake_primary, sent)

    calls = fake_primary.calls
    await producer.send_batch(T, [(b"visitor-0", b"after")])  # direct again
    assert fake_primary.calls == calls + 1
    assert fake_primary.delivered[-1] == (T, b"visitor-0", b"after")
    await producer.stop()


async def test_order_per_key_holds_across_direct_spooled_direct(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil
) -> None:
    producer = make(tmp_path, fake_primary)
    await producer.start()
    sent = items(4, 0, 60)
    await send_in_batches(producer, sent[:20])
    fake_primary.mode = "fail"
    await send_in_batches(producer, sent[20:40])
    fake_primary.mode = "ok"
    await send_in_batches(producer, sent[40:])  # may still go to the spool while it drains
    await wait_until(lambda: not producer.spooling)
    assert_exactly_once_in_order(fake_primary, sent)
    await producer.stop()


async def test_items_of_several_topics_are_drained_to_their_topic(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil
) -> None:
    producer = make(tmp_path, fake_primary)
    await producer.start()
    fake_primary.mode = "fail"
    await producer.send_batch(T, [(b"a", b"event")])
    await producer.send_batch(DLQ, [(b"a", b"dead letter")])
    fake_primary.mode = "ok"
    await wait_until(lambda: not producer.spooling)
    assert sorted(fake_primary.delivered) == sorted(
        [(T, b"a", b"event"), (DLQ, b"a", b"dead letter")]
    )
    await producer.stop()


@pytest.mark.parametrize("late_outcome", ["delivered", "failed"])
async def test_a_send_past_its_deadline_is_spooled_and_never_doubled(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil, late_outcome: str
) -> None:
    producer = make(tmp_path, fake_primary)
    await producer.start()
    fake_primary.mode = "hang"
    first, later = items(2, 0, 6), items(2, 6, 12)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(producer.send_batch(T, first), 2)  # returns at the deadline
    assert loop.time() - started < 1
    assert producer.spooling
    await producer.send_batch(T, later)  # behind it in the spool
    await asyncio.sleep(0.1)
    assert fake_primary.calls == 1  # nothing is drained while the first send is unresolved

    fake_primary.mode = "ok"
    fake_primary.release(deliver=late_outcome == "delivered")
    await wait_until(lambda: not producer.spooling)
    assert_exactly_once_in_order(fake_primary, first + later)
    await producer.stop()


async def test_outstanding_sends_are_taken_over_in_submission_order(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil
) -> None:
    producer = make(tmp_path, fake_primary, deadline_ms=300)
    await producer.start()
    fake_primary.mode = "hang"
    a, b, c, d = (items(1, i, i + 3) for i in range(0, 12, 3))  # one key throughout

    async def staggered(batch: Items, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await producer.send_batch(T, batch)

    # At 0.30 s a reaches its deadline; b and c (deadlines 0.40 s, 0.45 s) are taken over
    # with it, so d (sent at 0.35 s, into the spool) lands behind them, not between.
    await asyncio.wait_for(
        asyncio.gather(staggered(a, 0), staggered(b, 0.1), staggered(c, 0.15), staggered(d, 0.35)),
        3,
    )
    assert fake_primary.calls == 3
    fake_primary.mode = "ok"
    fake_primary.release(deliver=False)
    await wait_until(lambda: not producer.spooling)
    assert_exactly_once_in_order(fake_primary, a + b + c + d)
    await producer.stop()


async def test_restart_drains_what_the_last_run_left_on_disk(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil
) -> None:
    producer = make(tmp_path, fake_primary, stop_timeout_ms=50)
    await producer.start()
    fake_primary.mode = "fail"
    sent = items(3, 0, 20)
    await send_in_batches(producer, sent)
    await producer.stop()  # the primary is still down: the items stay in the spool
    assert fake_primary.delivered == []

    recovered = FakePrimary()
    producer = make(tmp_path, recovered)
    await producer.start()
    assert producer.spooling  # leftovers first, before any new item goes direct
    await producer.send_batch(T, [(b"visitor-0", b"new")])
    await wait_until(lambda: not producer.spooling)
    assert_exactly_once_in_order(recovered, [*sent, (b"visitor-0", b"new")])
    await producer.stop()


async def test_late_delivery_recorded_at_stop_is_not_resent_after_restart(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil
) -> None:
    producer = make(tmp_path, fake_primary, stop_timeout_ms=100)
    await producer.start()
    fake_primary.mode = "hang"
    sent = items(2, 0, 4)
    await producer.send_batch(T, sent)  # spooled at the deadline, still in the primary
    assert producer.depth() == 4
    fake_primary.outcome_on_stop = "deliver"
    await producer.stop()  # the primary delivers it while stopping; the spool marks it
    assert_exactly_once_in_order(fake_primary, sent)

    restarted = FakePrimary()
    producer = make(tmp_path, restarted)
    await producer.start()
    await wait_until(lambda: not producer.spooling)
    assert restarted.delivered == []  # nothing sent twice
    assert producer.depth() == 0
    await producer.stop()


async def test_stop_flushes_the_spool_when_the_primary_is_back(
    tmp_path: Path, fake_primary: FakePrimary
) -> None:
    producer = make(tmp_path, fake_primary)
    await producer.start()
    fake_primary.mode = "fail"
    sent = items(2, 0, 10)
    await send_in_batches(producer, sent)
    fake_primary.mode = "ok"
    await producer.stop()
    assert_exactly_once_in_order(fake_primary, sent)


async def test_primary_that_cannot_start_is_retried_in_the_background(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil
) -> None:
    fake_primary.start_fails = True
    producer = make(tmp_path, fake_primary)
    await producer.start()  # does not fail: the spool takes the events
    assert producer.spooling
    sent = items(2, 0, 8)
    await send_in_batches(producer, sent)
    fake_primary.start_fails = False
    await wait_until(lambda: not producer.spooling)
    assert fake_primary.started
    assert_exactly_once_in_order(fake_primary, sent)
    await producer.stop()


async def test_items_a_failed_drain_batch_did_deliver_are_not_resent(
    tmp_path: Path, fake_primary: FakePrimary, wait_until: WaitUntil
) -> None:
    producer = make(tmp_path, fake_primary)
    await producer.start()
    fake_primary.mode = "fail"
    sent = [(b"key-%d" % i, b"event-%d" % i) for i in range(10)]  # distinct keys
    await producer.send_batch(T, sent)
    fake_primary.partial_next = True  # next drain batch: half delivered, then an error
    fake_primary.mode = "ok"
    await wait_until(lambda: not producer.spooling)
    assert_exactly_once_in_order(fake_primary, sent)
    await producer.stop()


async def test_an_unwritable_spool_is_reported_to_the_caller(
    tmp_path: Path, fake_primary: FakePrimary
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    spool = LocalLog(tmp_path / "spool", fsync=broken_fsync)
    producer = SpoolingProducer(fake_primary, spool, deadline_ms=50, stop_timeout_ms=50)
    await producer.start()
    fake_primary.mode = "fail"
    with pytest.raises(BusError):
        await producer.send_batch(T, [(b"k", b"v")])
    with pytest.raises(BusError):
        await producer.send_batch(T, [(b"k", b"w")])
    await producer.stop()


def test_spooling_producer_is_an_event_producer(tmp_path: Path) -> None:
    producer = SpoolingProducer(FakePrimary(), LocalLog(os.fspath(tmp_path)))
    assert isinstance(producer, EventProducer)

"""LocalLog: order per key, offsets, group commit, recovery, consumer offsets, retention."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.bus.errors import BusClosed, InvalidName, LogCorrupt, LogWriteFailed, OffsetOutOfRange
from services.bus.local_log import LocalLog, partition_for_key
from services.bus.records import TopicPartition
from services.bus.segments import FRAME_HEADER, PAYLOAD_HEADER, encode_frame

T = "events.v1"


def segment_files(root: Path, topic: str, partition: int) -> list[Path]:
    return sorted((root / "topics" / topic / str(partition)).glob("*.log"))


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[LocalLog]:
    log = LocalLog(tmp_path, default_partitions=4, clock_ms=lambda: 1_700_000_000_000)
    await log.open()
    yield log
    await log.close()


async def test_records_of_a_key_share_a_partition_in_write_order(log: LocalLog) -> None:
    keys = [b"visitor-%d" % (i % 7) for i in range(70)]
    for i, key in enumerate(keys):
        await log.append(T, [(key, b"%d" % i)])
    seen: dict[bytes, list[int]] = {}
    for p in range(4):
        records = await log.read(TopicPartition(T, p), 0, 1000)
        assert [r.offset for r in records] == list(range(len(records)))
        for record in records:
            assert record.partition == partition_for_key(record.key, 4)
            assert record.timestamp_ms == 1_700_000_000_000
            seen.setdefault(record.key, []).append(int(record.value))
    assert sorted(seen) == sorted(set(keys))
    for key, values in seen.items():
        assert values == [i for i, k in enumerate(keys) if k == key]


async def test_append_returns_partition_and_offset_of_each_item(log: LocalLog) -> None:
    positions = await log.append(T, [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    pa, pb = partition_for_key(b"a", 4), partition_for_key(b"b", 4)
    assert positions[0] == (pa, 0)
    assert positions[2] == (pa, 1 if pa != pb else 2)
    assert positions[1] == (pb, 0 if pa != pb else 1)
    record = (await log.read(TopicPartition(T, pa), positions[2][1], 1))[0]
    assert record.value == b"3"


def test_partition_for_key_is_stable_crc32() -> None:
    # Pinned values: the mapping must not change between releases (spooled data on disk).
    assert [partition_for_key(k, 8) for k in (b"", b"a", b"visitor-1")] == [0, 3, 4]


@pytest.mark.parametrize("offset", [0, 1, 3, 4, 5, 17, 38, 39])
async def test_read_from_any_offset_across_segments(tmp_path: Path, offset: int) -> None:
    log = LocalLog(tmp_path, default_partitions=1, segment_bytes=300, index_interval=4)
    await log.open()
    await log.append(T, [(b"k", b"value-%02d" % i) for i in range(40)])
    assert len(segment_files(tmp_path, T, 0)) > 3
    for reopened in (False, True):
        if reopened:  # the sparse index rebuilt by the scan on open must agree
            await log.close()
            log = LocalLog(tmp_path, default_partitions=1, segment_bytes=300, index_interval=4)
            await log.open()
        records = await log.read(TopicPartition(T, 0), offset, 7)
        expected = list(range(offset, min(offset + 7, 40)))
        assert [r.offset for r in records] == expected
        assert [r.value for r in records] == [b"value-%02d" % i for i in expected]
    await log.close()


async def test_read_respects_max_bytes_but_returns_at_least_one(log: LocalLog) -> None:
    await log.append(T, [(b"k", b"x" * 1000) for _ in range(10)])
    tp = TopicPartition(T, partition_for_key(b"k", 4))
    assert len(await log.read(tp, 0, 100, max_bytes=2500)) == 3
    assert len(await log.read(tp, 0, 100, max_bytes=1)) == 1


class CountingFsync:
    """Counts fsyncs of regular files (segments, offset files) and of directories; each
    takes ``delay_s`` so that concurrent appends pile up behind a running sync."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.files = 0
        self.dirs = 0
        self.delay_s = delay_s

    def __call__(self, fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            self.dirs += 1
        else:
            self.files += 1
            time.sleep(self.delay_s)
        os.fsync(fd)


async def test_concurrent_appends_share_few_fsyncs(tmp_path: Path) -> None:
    fsync = CountingFsync(delay_s=0.02)
    log = LocalLog(tmp_path, default_partitions=1, fsync=fsync)
    await log.open()
    await log.append(T, [(b"k", b"first")])  # creates the topic, partition and segment
    fsync.files = 0
    results = await asyncio.gather(*(log.append(T, [(b"k", b"%d" % i)]) for i in range(200)))
    offsets = [positions[0][1] for positions in results]
    assert offsets == list(range(1, 201))  # call order is log order
    assert 1 <= fsync.files <= 4, fsync.files  # group commit: not one fsync per call
    assert log.durable_end_offset(TopicPartition(T, 0)) == 201
    await log.close()


async def test_append_returns_only_after_its_fsync(tmp_path: Path) -> None:
    gate = threading.Event()
    synced: list[int] = []

    def gated_fsync(fd: int) -> None:
        gate.wait(5)
        synced.append(fd)
        os.fsync(fd)

    log = LocalLog(tmp_path, default_partitions=1, fsync=gated_fsync)
    await log.open()
    appended = asyncio.ensure_future(log.append(T, [(b"k", b"v")]))
    waiter = log.appended_event()
    await asyncio.sleep(0.05)
    assert not appended.done()
    assert await log.read(TopicPartition(T, 0), 0, 10) == []  # not readable before durable
    gate.set()
    assert await appended == ((0, 0),)
    assert synced
    assert waiter.is_set()
    assert len(await log.read(TopicPartition(T, 0), 0, 10)) == 1
    await log.close()


async def test_failed_fsync_refuses_further_writes(tmp_path: Path) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    log = LocalLog(tmp_path, default_partitions=1, fsync=broken_fsync)
    await log.open()
    with pytest.raises(LogWriteFailed):
        await log.append(T, [(b"k", b"v")])
    with pytest.raises(LogWriteFailed):
        log.write(T, [(b"k", b"w")])
    await log.close()


def _partial_frame() -> bytes:
    frame = encode_frame(1, b"key", b"a value that will be cut")
    return frame[: len(frame) - 5]


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"\x00\x00", id="half-header"),
        pytest.param(_partial_frame(), id="half-record"),
        pytest.param(b"\xff" * 64, id="garbage"),
        pytest.param(FRAME_HEADER.pack(2**31, 0), id="absurd-length"),
        pytest.param(
            FRAME_HEADER.pack(PAYLOAD_HEADER.size + 3, 12345) + PAYLOAD_HEADER.pack(1, 3) + b"abc",
            id="bad-crc",
        ),
    ],
)
async def test_recovery_truncates_a_torn_tail(tmp_path: Path, tail: bytes) -> None:
    log = LocalLog(tmp_path, default_partitions=1)
    await log.open()
    await log.append(T, [(b"k", b"v%d" % i) for i in range(5)])
    await log.close()
    [segment] = segment_files(tmp_path, T, 0)
    good_size = segment.stat().st_size
    with segment.open("ab") as file:
        file.write(tail)

    log = LocalLog(tmp_path, default_partitions=1)
    await log.open()
    tp = TopicPartition(T, 0)
    assert segment.stat().st_size == good_size
    assert [r.value for r in await log.read(tp, 0, 100)] == [b"v%d" % i for i in range(5)]
    assert await log.append(T, [(b"k", b"after")]) == ((0, 5),)
    assert [r.value for r in await log.read(tp, 4, 100)] == [b"v4", b"after"]
    await log.close()


async def test_recovery_cuts_at_first_corrupt_record_of_last_segment(tmp_path: Path) -> None:
    log = LocalLog(tmp_path, default_partitions=1)
    await log.open()
    await log.append(T, [(b"k", b"v%d" % i) for i in range(5)])
    await log.close()
    [segment] = segment_files(tmp_path, T, 0)
    frame_size = len(encode_frame(0, b"k", b"v0"))
    data = bytearray(segment.read_bytes())
    data[3 * frame_size + FRAME_HEADER.size + 2] ^= 0xFF  # flip a bit inside record 3
    segment.write_bytes(bytes(data))

    log = LocalLog(tmp_path, default_partitions=1)
    await log.open()
    assert [r.value for r in await log.read(TopicPartition(T, 0), 0, 100)] == [b"v0", b"v1", b"v2"]
    assert log.end_offset(TopicPartition(T, 0)) == 3
    await log.close()


async def test_corruption_in_an_older_segment_is_refused(tmp_path: Path) -> None:
    log = LocalLog(tmp_path, default_partitions=1, segment_bytes=100)
    await log.open()
    await log.append(T, [(b"k", b"value-%d" % i) for i in range(20)])
    await log.close()
    first = segment_files(tmp_path, T, 0)[0]
    first.write_bytes(first.read_bytes()[:-3])
    with pytest.raises(LogCorrupt):
        await LocalLog(tmp_path, default_partitions=1, segment_bytes=100).open()


async def test_committed_offsets_survive_reopen(tmp_path: Path) -> None:
    log = LocalLog(tmp_path, default_partitions=2)
    await log.open()
    await log.append(T, [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    tp = TopicPartition(T, partition_for_key(b"a", 2))
    assert log.committed("attributor", tp) is None
    await log.commit("attributor", {tp: 1})
    await log.commit("attributor", {tp: 2})
    await log.commit("other", {tp: 1})
    await log.close()
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("*.tmp")))

    log = LocalLog(tmp_path, default_partitions=2)
    await log.open()
    assert log.committed("attributor", tp) == 2
    assert log.committed("other", tp) == 1
    assert log.committed("nobody", tp) is None
    with pytest.raises(OffsetOutOfRange):  # beyond the durable end
        await log.commit("attributor", {tp: 99})
    await log.close()


async def test_partition_count_is_kept_across_reopen(tmp_path: Path) -> None:
    log = LocalLog(tmp_path, default_partitions=3)
    await log.open()
    await log.append(T, [(b"k", b"v")])
    await log.close()
    log = LocalLog(tmp_path, default_partitions=16)
    await log.open()
    assert log.partitions(T) == 3
    assert log.ensure_topic("new-topic") == 16
    await log.close()


async def test_retention_deletes_segments_below_every_group(tmp_path: Path) -> None:
    def make() -> LocalLog:
        return LocalLog(tmp_path, default_partitions=1, segment_bytes=120)

    log = make()
    await log.open()
    tp = TopicPartition(T, 0)
    await log.append(T, [(b"k", b"value-%02d" % i) for i in range(30)])
    before = segment_files(tmp_path, T, 0)
    assert len(before) >= 5
    await log.commit("slow", {tp: 5})
    await log.commit("fast", {tp: 30})
    remaining = segment_files(tmp_path, T, 0)
    assert log.start_offset(tp) <= 5
    assert [r.value for r in await log.read(tp, 5, 1)] == [b"value-05"]  # slow group's data
    await log.commit("slow", {tp: 30})
    after = segment_files(tmp_path, T, 0)
    assert len(after) < len(remaining) <= len(before)
    assert len(after) == 1  # only the active segment is kept
    start = log.start_offset(tp)
    assert 0 < start <= 30
    with pytest.raises(OffsetOutOfRange):
        await log.read(tp, 0, 1)
    await log.close()

    log = make()  # offsets continue where they were, not from 0
    await log.open()
    assert log.start_offset(tp) == start
    assert await log.append(T, [(b"k", b"next")]) == ((0, 30),)
    assert (await log.read(tp, 30, 1))[0].value == b"next"
    assert log.lag("slow") == 1
    await log.close()


async def test_lag_counts_records_not_yet_committed(log: LocalLog) -> None:
    await log.append(T, [(b"k%d" % i, b"v") for i in range(10)])
    assert log.lag("g") == 10
    committed = {tp: log.durable_end_offset(tp) for tp in log.topic_partitions(T)}
    await log.commit("g", committed)
    assert log.lag("g") == 0
    log.write(T, [(b"k", b"pending")])  # counted before it is durable
    assert log.lag("g") == 1
    await log.flush()


@pytest.mark.parametrize("name", ["", "..", "a/b", "bad name", "x" * 201])
async def test_unsafe_names_are_refused(log: LocalLog, name: str) -> None:
    with pytest.raises(InvalidName):
        log.write(name, [(b"k", b"v")])
    with pytest.raises(InvalidName):
        await log.commit(name, {})


async def test_appended_event_wakes_a_waiter(log: LocalLog) -> None:
    event = log.appended_event()
    waiter = asyncio.ensure_future(event.wait())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await log.append(T, [(b"k", b"v")])
    await asyncio.wait_for(waiter, 1)


async def test_closed_log_refuses_work(tmp_path: Path) -> None:
    log = LocalLog(tmp_path)
    with pytest.raises(BusClosed):
        log.write(T, [(b"k", b"v")])
    await log.open()
    await log.open()  # a second user
    await log.close()
    assert log.is_open
    await log.append(T, [(b"k", b"v")])
    await log.close()
    assert not log.is_open

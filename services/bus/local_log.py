"""``LocalLog``: a durable, append-only, partitioned log in a directory.

It is the embedded bus when no Kafka is configured (``local_bus.py``) and the spool in front
of Kafka (``spool.py``). The model is Kafka's, scaled down to one process:

* **Topics and partitions.** A record goes to partition ``crc32(key) % partitions`` of its
  topic (``partition_for_key``), so all records of one key are in one partition, in the
  order they were written. The partition count of a topic is fixed when the topic is first
  written and stored with it; reopening with another ``default_partitions`` keeps the stored
  count, so keys never move. (This is not Kafka's murmur2 partitioner: local partitions
  and Kafka partitions are separate worlds; per-key order is all that is carried over.)
* **Offsets** are record indices within a partition: 0, 1, 2, ... and survive retention
  (segment files are named by the offset of their first record; see ``segments.py`` for
  the frame format). Reading from an offset uses an in-memory sparse index (byte position
  of every ``index_interval``-th record of each segment), built by scanning all segments on
  open and extended on every write: one seek plus at most ``index_interval - 1`` skipped
  frames per read.
* **Durability and group commit.** ``write`` encodes the records, assigns their offsets and
  buffers them in memory, synchronously, so the order of ``write`` calls is the log order.
  ``wait_durable`` (and ``append`` = write + wait) returns once those bytes are written and
  fsync'd. One sync runs at a time, in a worker thread: it takes everything buffered so
  far, writes it, fsyncs each touched segment once (and the directory when a file was
  created), then releases every caller whose records it covered. Callers arriving while a
  sync runs are covered together by the next one, so under load there is about one fsync
  per partition per sync, not per record or per call. Readers only see records once they
  are durable (like Kafka's high watermark with acks=all).
* **Failure.** If a write or fsync fails the log refuses further writes (``LogWriteFailed``)
  until it is reopened: after a failed fsync the page cache state is unknown, and recovery
  on open is the only safe way to learn what is on disk.
* **Recovery** on open keeps the longest valid prefix of each partition's last segment and
  truncates a torn or corrupt tail (a crash mid-write); records before it are intact. An
  invalid frame in an older segment (which was fsync'd before the next one was created)
  is real corruption and raises ``LogCorrupt``.
* **Consumer groups.** ``commit(group, offsets)`` stores, per partition, the offset of the
  next record the group will read, in one small file replaced atomically (``layout.py``).
* **Segments and retention.** A partition rolls to a new segment when the current one
  would exceed ``segment_bytes``. After a commit, segments whose records are all below the
  committed offset of EVERY group that has committed that partition are deleted. A group
  that never commits a partition does not hold it back; a group that committed once does,
  until it commits further (delete ``groups/<group>`` to release it).
"""

from __future__ import annotations

import asyncio
import os
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.bus import layout, segments
from services.bus.errors import BusClosed, LogCorrupt, LogWriteFailed, OffsetOutOfRange
from services.bus.records import Record, TopicPartition
from services.bus.segments import Fsync, ReadSpan

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_INDEX_INTERVAL = 64
DEFAULT_READ_BYTES = 1024 * 1024


def partition_for_key(key: bytes, partitions: int) -> int:
    """The local partition of ``key``: ``crc32(key) % partitions`` (stable across runs)."""
    return zlib.crc32(key) % partitions


def system_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(eq=False, slots=True)
class _Segment:
    base: int
    path: Path
    size: int = 0
    count: int = 0
    durable_size: int = 0
    durable_count: int = 0
    index: array[int] = field(default_factory=lambda: array("Q"))

    @property
    def end(self) -> int:
        return self.base + self.count


@dataclass(eq=False, slots=True)
class _Chunk:
    segment: _Segment
    data: bytearray
    count: int = 0


@dataclass(eq=False, slots=True)
class _Partition:
    tp: TopicPartition
    directory: Path
    segments: list[_Segment]
    durable_end: int
    pending: list[_Chunk] = field(default_factory=list)
    writer_fd: int | None = None
    writer_base: int = -1

    @property
    def start_offset(self) -> int:
        return self.segments[0].base

    @property
    def end_offset(self) -> int:
        return self.segments[-1].end


@dataclass(eq=False, slots=True)
class _Topic:
    name: str
    partitions: list[_Partition]
    persisted: bool


@dataclass(frozen=True, slots=True)
class Appended:
    """Where ``write`` put the items, in item order, and the sequence to wait for."""

    seq: int
    positions: tuple[tuple[int, int], ...]
    """(partition, offset) of each item."""


class LocalLog:
    def __init__(
        self,
        root: Path | str,
        *,
        default_partitions: int = 8,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        index_interval: int = DEFAULT_INDEX_INTERVAL,
        fsync: Fsync = os.fsync,
        clock_ms: Callable[[], int] = system_clock_ms,
    ) -> None:
        if default_partitions < 1 or segment_bytes < 1 or index_interval < 1:
            raise ValueError("partitions, segment_bytes and index_interval must be positive")
        self.root = Path(root)
        self._default_partitions = default_partitions
        self._segment_bytes = segment_bytes
        self._index_interval = index_interval
        self._fsync = fsync
        self._clock_ms = clock_ms
        self._opens = 0
        self._open_lock = asyncio.Lock()
        self._commit_lock = asyncio.Lock()
        self._reset()

    def _reset(self) -> None:
        self._topics: dict[str, _Topic] = {}
        self._committed: dict[str, dict[TopicPartition, int]] = {}
        self._dirty: dict[_Partition, None] = {}
        self._write_seq = 0
        self._durable_seq = 0
        self._sync_task: asyncio.Task[None] | None = None
        self._failed: LogWriteFailed | None = None
        self._appended = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._opens > 0

    async def open(self) -> None:
        """Open (recovering the directory) or, if already open, count one more user."""
        async with self._open_lock:
            if self._opens == 0:
                self._reset()
                await asyncio.to_thread(self._load)
            self._opens += 1

    async def close(self) -> None:
        """Release one user; the last one flushes buffered writes and closes the files."""
        async with self._open_lock:
            if self._opens == 0:
                return
            self._opens -= 1
            if self._opens > 0:
                return
            try:
                if self._failed is None:
                    await self.wait_durable(self._write_seq)
            finally:
                for topic in self._topics.values():
                    for part in topic.partitions:
                        if part.writer_fd is not None:
                            os.close(part.writer_fd)
                            part.writer_fd = None
                self._appended.set()

    def _load(self) -> None:
        """Recover the directory into memory (blocking; runs in a worker thread)."""
        self.root.mkdir(parents=True, exist_ok=True)
        layout.remove_temporaries(self.root)
        for name, count in layout.read_topics(self.root).items():
            parts = [self._load_partition(TopicPartition(name, p)) for p in range(count)]
            self._topics[name] = _Topic(name, parts, persisted=True)
        self._committed = layout.read_group_offsets(self.root)

    def _load_partition(self, tp: TopicPartition) -> _Partition:
        directory = layout.partition_dir(self.root, tp)
        found: list[tuple[int, Path]] = []
        if directory.is_dir():
            for path in directory.iterdir():
                base = segments.segment_base(path)
                if base is not None:
                    found.append((base, path))
        found.sort()
        loaded: list[_Segment] = []
        for i, (base, path) in enumerate(found):
            scan = segments.scan_segment(path, self._index_interval)
            last = i == len(found) - 1
            if scan.valid_bytes < scan.file_bytes:
                if not last:
                    raise LogCorrupt(f"{path}: invalid frame at byte {scan.valid_bytes}")
                segments.truncate_file(path, scan.valid_bytes, self._fsync)
            if loaded and loaded[-1].end != base:
                raise LogCorrupt(f"{path}: expected base offset {loaded[-1].end}, found {base}")
            size = scan.valid_bytes
            loaded.append(_Segment(base, path, size, scan.count, size, scan.count, scan.index))
        if not loaded:
            loaded.append(_Segment(0, directory / segments.segment_name(0)))
        return _Partition(tp, directory, loaded, durable_end=loaded[-1].end)

    def _check_open(self) -> None:
        if self._opens == 0:
            raise BusClosed(f"local log {self.root} is not open")

    # -- topics and offsets ------------------------------------------------------------

    def topics(self) -> list[str]:
        return sorted(self._topics)

    def partitions(self, topic: str) -> int | None:
        state = self._topics.get(topic)
        return None if state is None else len(state.partitions)

    def ensure_topic(self, topic: str, partitions: int | None = None) -> int:
        """Declare ``topic`` (stored with its first write); return its partition count.

        An existing topic keeps the partition count it has.
        """
        return len(self._topic(topic, partitions).partitions)

    def _topic(self, topic: str, partitions: int | None = None) -> _Topic:
        state = self._topics.get(topic)
        if state is None:
            self._check_open()
            layout.check_name("topic", topic)
            count = partitions or self._default_partitions
            parts = []
            for p in range(count):
                tp = TopicPartition(topic, p)
                directory = layout.partition_dir(self.root, tp)
                first = _Segment(0, directory / segments.segment_name(0))
                parts.append(_Partition(tp, directory, [first], durable_end=0))
            state = self._topics[topic] = _Topic(topic, parts, persisted=False)
        return state

    def _partition(self, tp: TopicPartition) -> _Partition:
        state = self._topics.get(tp.topic)
        if state is None or not 0 <= tp.partition < len(state.partitions):
            raise OffsetOutOfRange(f"no partition {tp} in {self.root}")
        return state.partitions[tp.partition]

    def topic_partitions(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in range(self.ensure_topic(topic))]

    def start_offset(self, tp: TopicPartition) -> int:
        """The first offset still retained."""
        return self._partition(tp).start_offset

    def end_offset(self, tp: TopicPartition) -> int:
        """The offset the next write will get (includes records not yet durable)."""
        return self._partition(tp).end_offset

    def durable_end_offset(self, tp: TopicPartition) -> int:
        """One past the last durable (readable) record."""
        return self._partition(tp).durable_end

    def committed(self, group: str, tp: TopicPartition) -> int | None:
        return self._committed.get(group, {}).get(tp)

    def lag(self, group: str, topics: Iterable[str] | None = None) -> int:
        """Records written (durable or not) and not yet committed by ``group``."""
        total = 0
        for name in self.topics() if topics is None else topics:
            state = self._topics.get(name)
            for part in state.partitions if state else []:
                position = self.committed(group, part.tp)
                total += part.end_offset - max(part.start_offset, position or 0)
        return total

    async def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Store the next offset to read per partition for ``group``, then apply retention."""
        self._check_open()
        layout.check_name("group", group)
        for tp, offset in offsets.items():
            if not 0 <= offset <= self._partition(tp).durable_end:
                raise OffsetOutOfRange(f"cannot commit offset {offset} of {tp}")
        if not offsets:
            return
        async with self._commit_lock:
            await asyncio.to_thread(
                layout.write_group_offsets, self.root, group, dict(offsets), self._fsync
            )
            self._committed.setdefault(group, {}).update(offsets)
            doomed = [path for tp in offsets for path in self._expire_segments(tp)]
            if doomed:
                await asyncio.to_thread(_unlink_all, doomed)

    def _expire_segments(self, tp: TopicPartition) -> list[Path]:
        low = min(offsets[tp] for offsets in self._committed.values() if tp in offsets)
        part = self._partition(tp)
        doomed = []
        while len(part.segments) > 1 and part.segments[1].base <= low:
            doomed.append(part.segments.pop(0).path)
        return doomed

    # -- writing -----------------------------------------------------------------------

    def write(
        self, topic: str, items: Sequence[tuple[bytes, bytes]], timestamp_ms: int | None = None
    ) -> Appended:
        """Buffer ``(key, value)`` items and assign their offsets, without waiting.

        The records are durable (and readable) once ``wait_durable(result.seq)`` returns.
        """
        self._check_open()
        if self._failed is not None:
            raise self._failed
        state = self._topic(topic)
        timestamp = self._clock_ms() if timestamp_ms is None else timestamp_ms
        frames = [(key, segments.encode_frame(timestamp, key, value)) for key, value in items]
        positions = []
        for key, frame in frames:
            part = state.partitions[partition_for_key(key, len(state.partitions))]
            positions.append((part.tp.partition, self._buffer(part, frame)))
        if frames:
            self._write_seq += 1
        return Appended(self._write_seq, tuple(positions))

    def _buffer(self, part: _Partition, frame: bytes) -> int:
        segment = part.segments[-1]
        if segment.count and segment.size + len(frame) > self._segment_bytes:
            base = segment.end
            segment = _Segment(base, part.directory / segments.segment_name(base))
            part.segments.append(segment)
        if segment.count % self._index_interval == 0:
            segment.index.append(segment.size)
        if not part.pending or part.pending[-1].segment is not segment:
            part.pending.append(_Chunk(segment, bytearray()))
        chunk = part.pending[-1]
        chunk.data += frame
        chunk.count += 1
        offset = segment.end
        segment.size += len(frame)
        segment.count += 1
        self._dirty[part] = None
        return offset

    async def append(
        self, topic: str, items: Sequence[tuple[bytes, bytes]], timestamp_ms: int | None = None
    ) -> tuple[tuple[int, int], ...]:
        """Write items and wait until they are durable; return their (partition, offset)."""
        appended = self.write(topic, items, timestamp_ms)
        await self.wait_durable(appended.seq)
        return appended.positions

    async def flush(self) -> None:
        """Wait until everything written so far is durable."""
        await self.wait_durable(self._write_seq)

    async def wait_durable(self, seq: int) -> None:
        """Return once the writes up to sequence ``seq`` are fsync'd (group commit)."""
        while self._durable_seq < seq:
            if self._failed is not None:
                raise self._failed
            task = self._sync_task
            if task is None:
                task = self._sync_task = asyncio.get_running_loop().create_task(self._sync())
                task.add_done_callback(_retrieve_exception)
            await asyncio.shield(task)

    async def _sync(self) -> None:
        try:
            target = self._write_seq
            plan = [(part, part.pending) for part in self._dirty]
            for part in self._dirty:
                part.pending = []
            self._dirty = {}
            new_topics = {
                part.tp.topic: len(self._topics[part.tp.topic].partitions)
                for part, _ in plan
                if not self._topics[part.tp.topic].persisted
            }
            try:
                await asyncio.to_thread(self._write_plan, plan, new_topics)
            except OSError as exc:
                self._failed = LogWriteFailed(f"writing {self.root} failed: {exc}")
                raise self._failed from exc
            except asyncio.CancelledError:
                # The worker thread may or may not have finished: only recovery can tell.
                self._failed = LogWriteFailed(f"a sync of {self.root} was interrupted")
                raise
            for name in new_topics:
                self._topics[name].persisted = True
            for part, chunks in plan:
                for chunk in chunks:
                    chunk.segment.durable_size += len(chunk.data)
                    chunk.segment.durable_count += chunk.count
                    part.durable_end += chunk.count
            self._durable_seq = target
            self._appended.set()
            self._appended = asyncio.Event()
        finally:
            self._sync_task = None

    def _write_plan(
        self, plan: list[tuple[_Partition, list[_Chunk]]], new_topics: dict[str, int]
    ) -> None:
        """Write and fsync buffered chunks (blocking; one at a time, in a worker thread)."""
        for name, count in new_topics.items():
            layout.write_topic(self.root, name, count, self._fsync)
        for part, chunks in plan:
            for chunk in chunks:
                created = False
                if part.writer_base != chunk.segment.base or part.writer_fd is None:
                    if part.writer_fd is not None:
                        os.close(part.writer_fd)
                        part.writer_fd = None
                    segments.make_dirs(part.directory, self._fsync)
                    created = not chunk.segment.path.exists()
                    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
                    part.writer_fd = os.open(chunk.segment.path, flags, 0o644)
                    part.writer_base = chunk.segment.base
                segments.write_all(part.writer_fd, chunk.data)
                self._fsync(part.writer_fd)
                if created:
                    segments.fsync_dir(part.directory, self._fsync)

    # -- reading -----------------------------------------------------------------------

    def appended_event(self) -> asyncio.Event:
        """An event set at the next durable write (or close). Take it BEFORE reading, so
        that a write landing between the read and the wait is not missed."""
        return self._appended

    async def read(
        self, tp: TopicPartition, offset: int, max_records: int, max_bytes: int = DEFAULT_READ_BYTES
    ) -> list[Record]:
        """Durable records of ``tp`` from ``offset``: at most ``max_records``, about
        ``max_bytes`` (at least one record if any). ``OffsetOutOfRange`` below retention."""
        return (await self.read_many({tp: offset}, max_records, max_bytes)).get(tp, [])

    async def read_many(
        self,
        positions: Mapping[TopicPartition, int],
        max_records: int,
        max_bytes: int = DEFAULT_READ_BYTES,
    ) -> dict[TopicPartition, list[Record]]:
        """Read several partitions in one worker-thread hop, ``max_records`` in total,
        shared out in the order of ``positions``."""
        self._check_open()
        plans: list[tuple[TopicPartition, int, list[ReadSpan]]] = []
        remaining = max_records
        for tp, offset in positions.items():
            spans = self._spans(self._partition(tp), offset, remaining)
            count = sum(span.count for span in spans)
            if count:
                plans.append((tp, offset, spans))
                remaining -= count
        if not plans:
            return {}
        rows = await asyncio.to_thread(_read_plans, plans, max_bytes)
        result: dict[TopicPartition, list[Record]] = {}
        for (tp, offset, _), tp_rows in zip(plans, rows, strict=True):
            if tp_rows:
                result[tp] = [
                    Record(tp.topic, tp.partition, offset + i, key, value, timestamp)
                    for i, (timestamp, key, value) in enumerate(tp_rows)
                ]
        return result

    def _spans(self, part: _Partition, offset: int, max_records: int) -> list[ReadSpan]:
        if offset < part.start_offset:
            raise OffsetOutOfRange(f"{part.tp} starts at {part.start_offset}, not {offset}")
        remaining = min(max_records, part.durable_end - offset)
        spans: list[ReadSpan] = []
        for segment in part.segments:
            if remaining <= 0:
                break
            if segment.end <= offset:
                continue
            skip = offset - segment.base
            count = min(segment.durable_count - skip, remaining)
            if count <= 0:
                break
            slot = skip // self._index_interval
            spans.append(
                ReadSpan(
                    path=segment.path,
                    position=segment.index[slot],
                    skip=skip - slot * self._index_interval,
                    count=count,
                    end_position=segment.durable_size,
                )
            )
            offset += count
            remaining -= count
        return spans


def _read_plans(
    plans: list[tuple[TopicPartition, int, list[ReadSpan]]], max_bytes: int
) -> list[list[segments.Row]]:
    results: list[list[segments.Row]] = []
    budget = max_bytes
    for _, _, spans in plans:
        if budget <= 0:
            results.append([])
            continue
        rows = segments.read_spans(spans, budget)
        budget -= sum(len(key) + len(value) for _, key, value in rows)
        results.append(rows)
    return results


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()

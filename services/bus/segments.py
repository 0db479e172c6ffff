"""The on-disk record format of ``LocalLog`` and the blocking file code that reads it.

A partition is a directory of segment files named by the offset of their first record,
``00000000000000000000.log``, ``00000000000000001234.log``, ... Offsets are record
indices within the partition (0, 1, 2, ...), never byte positions. A segment file is a plain
concatenation of frames::

    frame   = length:u32 | crc32:u32 | payload          (big-endian; crc32 = zlib.crc32(payload))
    payload = timestamp_ms:i64 | key_length:u32 | key | value

A frame is valid when its header is complete, ``length`` is at least the payload header and
at most ``MAX_PAYLOAD_BYTES``, the whole payload is present and its crc32 matches. Recovery
keeps the longest valid prefix of the last segment (a torn or half-written tail is cut off);
an invalid frame in any other segment is corruption, not a torn write, and is refused.

Everything here blocks and runs in worker threads (``asyncio.to_thread``); nothing touches
the event loop or ``LocalLog`` state.
"""

from __future__ import annotations

import os
import struct
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.bus.errors import LogCorrupt, OffsetOutOfRange

FRAME_HEADER = struct.Struct(">II")
PAYLOAD_HEADER = struct.Struct(">qI")
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
SEGMENT_SUFFIX = ".log"
READ_CHUNK_BYTES = 256 * 1024

Fsync = Callable[[int], None]
Row = tuple[int, bytes, bytes]
"""A decoded record without its position: (timestamp_ms, key, value)."""


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}{SEGMENT_SUFFIX}"


def segment_base(path: Path) -> int | None:
    """The base offset encoded in a segment file name, or None if it is not a segment."""
    stem, suffix = path.stem, path.suffix
    if suffix != SEGMENT_SUFFIX or len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


def encode_frame(timestamp_ms: int, key: bytes, value: bytes) -> bytes:
    payload = PAYLOAD_HEADER.pack(timestamp_ms, len(key)) + key + value
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"record of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def _frame_at(data: memoryview, pos: int) -> tuple[int, memoryview] | None:
    """(end position, payload) of the valid frame starting at ``pos``, or None."""
    if pos + FRAME_HEADER.size > len(data):
        return None
    length, crc = FRAME_HEADER.unpack_from(data, pos)
    start = pos + FRAME_HEADER.size
    end = start + length
    if length < PAYLOAD_HEADER.size or length > MAX_PAYLOAD_BYTES or end > len(data):
        return None
    payload = data[start:end]
    if zlib.crc32(payload) != crc:
        return None
    _, key_length = PAYLOAD_HEADER.unpack_from(payload, 0)
    if PAYLOAD_HEADER.size + key_length > length:
        return None
    return end, payload


def _decode(payload: memoryview) -> Row:
    timestamp_ms, key_length = PAYLOAD_HEADER.unpack_from(payload, 0)
    key_end = PAYLOAD_HEADER.size + key_length
    return timestamp_ms, bytes(payload[PAYLOAD_HEADER.size : key_end]), bytes(payload[key_end:])


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """What recovery learned about one segment file."""

    count: int
    valid_bytes: int
    file_bytes: int
    index: array[int]
    """Byte position of records 0, interval, 2*interval, ... of the segment."""


def scan_segment(path: Path, index_interval: int) -> SegmentScan:
    """Count the valid frames of a segment and build its sparse index (reads the file)."""
    data = memoryview(path.read_bytes())
    index: array[int] = array("Q")
    pos = count = 0
    while (frame := _frame_at(data, pos)) is not None:
        if count % index_interval == 0:
            index.append(pos)
        pos = frame[0]
        count += 1
    return SegmentScan(count=count, valid_bytes=pos, file_bytes=len(data), index=index)


def truncate_file(path: Path, size: int, fsync: Fsync) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class ReadSpan:
    """Read ``count`` records of one segment, starting ``skip`` frames after byte ``position``.

    ``end_position`` bounds the bytes that may be read (the durable size of the segment).
    """

    path: Path
    position: int
    skip: int
    count: int
    end_position: int


def read_spans(spans: list[ReadSpan], max_bytes: int) -> list[Row]:
    """Decode the records of ``spans`` in order, stopping after about ``max_bytes``.

    At least one record is returned if the first span has any. Raises ``OffsetOutOfRange``
    if a segment file has disappeared (retention deleted it under the reader) and
    ``LogCorrupt`` if a frame inside the durable region does not check out.
    """
    rows: list[Row] = []
    budget = max_bytes
    for span in spans:
        try:
            budget -= _read_span(span, rows, budget)
        except FileNotFoundError as exc:
            raise OffsetOutOfRange(f"{span.path} was deleted by retention") from exc
        if budget <= 0:
            break
    return rows


def _read_span(span: ReadSpan, rows: list[Row], max_bytes: int) -> int:
    """Append the span's records to ``rows``; return the payload bytes read."""
    with span.path.open("rb") as file:
        file.seek(span.position)
        buffer = b""
        start = 0  # where the next frame begins in buffer
        buffer_position = span.position  # file position of buffer[0]
        skip, wanted, read_bytes = span.skip, span.count, 0
        while wanted > 0 and read_bytes < max_bytes:
            frame = _frame_at(memoryview(buffer), start)
            if frame is None:
                unread = span.end_position - (buffer_position + len(buffer))
                chunk = file.read(min(unread, max(READ_CHUNK_BYTES, len(buffer) - start)))
                if unread <= 0 or not chunk:
                    raise LogCorrupt(
                        f"{span.path}: invalid frame at byte {buffer_position + start}"
                    )
                buffer = buffer[start:] + chunk
                buffer_position += start
                start = 0
                continue
            start, payload = frame
            if skip > 0:
                skip -= 1
                continue
            rows.append(_decode(payload))
            read_bytes += len(payload)
            wanted -= 1
    return read_bytes


def fsync_dir(path: Path, fsync: Fsync) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, fsync: Fsync) -> None:
    """Create ``path`` and missing parents, fsyncing each parent that gained an entry."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        fsync_dir(directory.parent, fsync)


def write_atomically(path: Path, data: bytes, fsync: Fsync) -> None:
    """Replace ``path`` by ``data``: write a temporary file, fsync it, rename, fsync the dir."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent, fsync)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]

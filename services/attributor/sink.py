"""Writing to ClickHouse with exactly-once effect, and reading back what was written.

Every insert carries a deterministic `insert_deduplication_token` built from the
topic-partition-offset ranges it holds, and every table records the offsets of the records
its rows came from. On restart, `high_water_marks` tells per table and partition what is
already written, so replayed rows are filtered out even when the replayed batch is cut
differently (the token alone only covers an identical replay).

Write order per batch: dead letters, credits, payouts, then events. `events` is written
last, so an offset present in `events` means everything derived from it is written too:
the attributor rebuilds its state from `events` and skips records at or below its mark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client
from numpy.typing import NDArray

from services.bus.records import Record
from services.errors import StoreUnavailable

TABLES = ("rejected_events", "attribution_credits", "payouts", "events")
# Columns passed as epoch milliseconds (int) that are DateTime64(3, 'UTC') in the tables.
TIMESTAMP_COLUMNS = frozenset(
    {"ts", "received_at", "click_ts", "conversion_ts", "attributed_at", "created_at"}
)
TIMESTAMP = pa.timestamp("ms", tz="UTC")
Columns = Mapping[str, Sequence[Any] | pa.Array]


class Sink(Protocol):
    """Where the attributor writes. Raises StoreUnavailable (retriable) when it cannot."""

    def write(self, table: str, columns: Columns, token: str) -> None: ...

    def high_water_marks(self, topic: str, partitions: Sequence[int]) -> dict[str, dict[int, int]]:
        """Per table, per partition: the highest offset written (absent: none)."""
        ...

    def read_events(self, topic: str, partitions: Sequence[int], since_ms: int) -> list[Record]:
        """Events written from these partitions with ts >= since_ms, in offset order."""
        ...

    def query_rows(self, sql: str, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]: ...


def dedup_token(table: str, ranges: Mapping[tuple[str, int], tuple[int, int]]) -> str:
    """`table|topic:partition:first-last|...`, the same for the same records in any order."""
    parts = [f"{t}:{p}:{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items())]
    return "|".join([table, *parts])


def offset_ranges(columns: Columns) -> dict[tuple[str, int], tuple[int, int]]:
    """Per topic-partition, the lowest and highest source offset of these rows."""
    sources, group, offsets = _sources(columns)
    ranges = {}
    for g, source in enumerate(sources):
        mine = offsets[group == g]
        ranges[source] = (int(mine.min()), int(mine.max()))
    return ranges


def rows_above(columns: Columns, marks: Mapping[tuple[str, int], int]) -> NDArray[np.bool_]:
    """For each row, whether its source offset is above its partition's high-water mark."""
    sources, group, offsets = _sources(columns)
    limits = np.array([marks.get(s, -1) for s in sources] or [-1], np.int64)
    above: NDArray[np.bool_] = offsets > limits[group]
    return above


def _sources(columns: Columns) -> tuple[list[tuple[str, int]], NDArray[np.intp], NDArray[np.int64]]:
    """(distinct (topic, partition), each row's index into them, each row's offset)."""
    offsets = _numbers(columns["kafka_offset"])
    if offsets.shape[0] == 0:
        return [], np.zeros(0, np.intp), offsets
    topics = columns["kafka_topic"]
    if isinstance(topics, pa.Array | pa.ChunkedArray):
        encoded = pc.dictionary_encode(topics)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        names = encoded.dictionary.to_pylist()
        topic_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    elif list(topics).count(topics[0]) == len(topics):  # one topic: the usual case
        names, topic_codes = [topics[0]], np.zeros(len(topics), np.int64)
    else:
        index: dict[str, int] = {}
        topic_codes = np.array([index.setdefault(t, len(index)) for t in topics], np.int64)
        names = list(index)
    partitions = _numbers(columns["kafka_partition"])
    pairs, group = np.unique(topic_codes << 32 | partitions, return_inverse=True)
    sources = [(names[int(p >> 32)], int(p & 0xFFFFFFFF)) for p in pairs.tolist()]
    return sources, group.reshape(-1), offsets


def _numbers(values: Sequence[Any] | pa.Array) -> NDArray[np.int64]:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return np.asarray(values.to_numpy(), np.int64)
    return np.asarray(values, np.int64).reshape(len(values))


class ClickHouseSink:
    """A `Sink` over a clickhouse-connect client (a server, or the embedded chDB engine).

    `client_cpu_seconds()` is the CPU time the calling threads spent inside the client's
    calls: with chDB, the engine parsing and writing inserts and running the look-up
    queries on those threads (the rest of its work runs on its own threads); with a server,
    little more than the HTTP exchange. What the sink does before the call (Arrow columns,
    the IPC encoding of the insert) is not in it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._client_cpu_s = 0.0
        self._cpu_lock = threading.Lock()

    def client_cpu_seconds(self) -> float:
        return self._client_cpu_s

    @contextmanager
    def _in_client(self) -> Iterator[None]:
        started = time.thread_time()
        try:
            yield
        finally:
            spent = time.thread_time() - started
            with self._cpu_lock:
                self._client_cpu_s += spent

    def write(self, table: str, columns: Columns, token: str) -> None:
        arrays = {name: _arrow(name, values) for name, values in columns.items()}
        if not arrays or len(next(iter(arrays.values()))) == 0:
            return
        try:
            data = arrow_file(pa.table(arrays))
            with self._in_client():
                self.client.raw_insert(
                    table,
                    list(arrays),
                    data,
                    settings={"insert_deduplication_token": token},
                    fmt="Arrow",
                )
        except Exception as exc:  # the driver raises many types; all mean "not written"
            raise StoreUnavailable(f"insert into {table} failed: {exc}") from exc

    def high_water_marks(self, topic: str, partitions: Sequence[int]) -> dict[str, dict[int, int]]:
        marks: dict[str, dict[int, int]] = {}
        for table in TABLES:
            rows = self.query_rows(
                f"SELECT kafka_partition, max(kafka_offset) FROM {table} "
                "WHERE kafka_topic = {topic:String} AND kafka_partition IN {parts:Array(Int32)} "
                "GROUP BY kafka_partition",
                {"topic": topic, "parts": list(partitions)},
            )
            marks[table] = {int(p): int(o) for p, o in rows}
        return marks

    def read_events(self, topic: str, partitions: Sequence[int], since_ms: int) -> list[Record]:
        rows = self.query_rows(
            "SELECT kafka_partition, kafka_offset, identity, payload, toUnixTimestamp64Milli(ts) "
            "FROM events WHERE kafka_topic = {topic:String} "
            "AND kafka_partition IN {parts:Array(Int32)} "
            "AND ts >= fromUnixTimestamp64Milli({since:Int64}) "
            "ORDER BY kafka_partition, kafka_offset",
            {"topic": topic, "parts": list(partitions), "since": since_ms},
        )
        return [
            Record(topic, int(p), int(o), str(key).encode(), str(payload).encode(), int(ts))
            for p, o, key, payload, ts in rows
        ]

    def query_rows(self, sql: str, parameters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        try:
            with self._in_client():
                rows = self.client.query(sql, parameters=dict(parameters)).result_rows
            return [tuple(r) for r in rows]
        except Exception as exc:
            raise StoreUnavailable(f"query failed: {exc}") from exc


def arrow_file(table: pa.Table) -> pa.Buffer:
    """`table` in the Arrow IPC file format (ClickHouse's `Arrow` input format), as
    clickhouse-connect's `insert_arrow` encodes it (uncompressed: the embedded engine reads
    it from memory, and a server's HTTP body is compressed by the transport)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _arrow(name: str, values: Sequence[Any] | pa.Array) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if name in TIMESTAMP_COLUMNS:
        return pa.array(values, TIMESTAMP)
    return pa.array(values)

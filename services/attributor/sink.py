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

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pyarrow as pa
from clickhouse_connect.driver.client import Client

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


class ClickHouseSink:
    def __init__(self, client: Client) -> None:
        self.client = client

    def write(self, table: str, columns: Columns, token: str) -> None:
        arrays = {name: _arrow(name, values) for name, values in columns.items()}
        if not arrays or len(next(iter(arrays.values()))) == 0:
            return
        try:
            self.client.insert_arrow(
                table, pa.table(arrays), settings={"insert_deduplication_token": token}
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
            rows = self.client.query(sql, parameters=dict(parameters)).result_rows
            return [tuple(r) for r in rows]
        except Exception as exc:
            raise StoreUnavailable(f"query failed: {exc}") from exc


def _arrow(name: str, values: Sequence[Any] | pa.Array) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if name in TIMESTAMP_COLUMNS:
        return pa.array(values, TIMESTAMP)
    return pa.array(values)

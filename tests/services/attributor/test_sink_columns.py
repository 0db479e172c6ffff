"""The sink's columnar helpers and the `events` rows as ClickHouse stores them."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from clickhouse_connect.driver.client import Client

from services.attributor.decode import EVENT_COLUMNS, decode_records
from services.attributor.rows import (
    Columns,
    ConversionInfo,
    concat_columns,
    conversion_infos,
    event_columns,
    filter_columns,
)
from services.attributor.sink import ClickHouseSink, offset_ranges, rows_above
from services.bus.records import Record
from services.collector.publisher import encode_event
from services.simulation.journeys import Mix, canonical_events, plan_journeys
from tests.services.attributor import reference_decode

START_MS = 1_795_428_000_000
TIMES = ("ts", "received_at", "click_ts")


def simulated_records(count: int) -> list[Record]:
    journeys = plan_journeys(count // 3 + 1, 9, 86_400.0, Mix(reverse=0.3, bots=0.1))
    values = [encode_event(e)[1] for e in canonical_events(journeys, START_MS, 9)][:count]
    values[5] = b'{"event_id": "x", "type": "click", "ts": "2026-11-23T18:03:29Z", "context": ' + (
        b'{"ip": "10.0.0.0", "fraud_flags": ["click_injection"], "consent": {"gdpr": true}}, '
        b'"click_ts": "2026-11-23T18:03:20.5Z", "ctit_seconds": 9}'
    )
    return [Record("events.v1", i % 4, 100 + i, b"k", v, START_MS) for i, v in enumerate(values)]


SOURCES = [
    pytest.param(lambda c: c, id="lists"),
    pytest.param(lambda c: {k: pa.array(v) for k, v in c.items()}, id="arrow"),
]


@pytest.mark.parametrize("as_columns", SOURCES)
def test_offset_ranges_and_rows_above_marks(as_columns) -> None:  # type: ignore[no-untyped-def]
    columns = as_columns(
        {
            "kafka_topic": ["a", "a", "b", "a", "b"],
            "kafka_partition": [0, 1, 0, 0, 0],
            "kafka_offset": [7, 3, 9, 2, 4],
        }
    )
    assert offset_ranges(columns) == {("a", 0): (2, 7), ("a", 1): (3, 3), ("b", 0): (4, 9)}
    marks = {("a", 0): 5, ("b", 0): 4}
    assert rows_above(columns, marks).tolist() == [True, True, True, False, False]


def test_offset_ranges_of_no_rows() -> None:
    empty: Columns = {"kafka_topic": [], "kafka_partition": [], "kafka_offset": []}
    assert offset_ranges(empty) == {}
    assert rows_above(empty, {("a", 0): 1}).tolist() == []


def test_filter_and_concat_keep_lists_as_lists_and_arrow_as_arrow() -> None:
    lists: Columns = {"a": [1, 2, 3], "b": ["x", "y", "z"]}
    arrow: dict[str, Any] = {"a": pa.array([1, 2, 3]), "b": pa.array(["x", "y", "z"])}
    keep = np.array([True, False, True])
    assert filter_columns(lists, keep) == {"a": [1, 3], "b": ["x", "z"]}
    filtered: dict[str, Any] = filter_columns(arrow, keep)
    assert {k: v.to_pylist() for k, v in filtered.items()} == {
        "a": [1, 3],
        "b": ["x", "z"],
    }
    assert concat_columns([lists, {"a": [4], "b": ["w"]}]) == {
        "a": [1, 2, 3, 4],
        "b": ["x", "y", "z", "w"],
    }
    joined: dict[str, Any] = concat_columns([arrow, arrow])
    assert joined["a"].to_pylist() == [1, 2, 3, 1, 2, 3]
    assert concat_columns([]) == {}
    with pytest.raises(ValueError, match="different columns"):
        concat_columns([lists, {"a": [1]}])


def test_conversion_infos_are_those_of_each_row() -> None:
    batch = decode_records(simulated_records(600))
    rows = batch.conversion_rows
    assert rows
    infos = conversion_infos(batch, rows)
    keys = batch.events["event_key"]
    assert infos == {keys[r]: ConversionInfo.from_row(batch, r) for r in rows}
    assert any(i.event_name == "install" for i in infos.values())


def stored_events(client: Client) -> list[dict[str, object]]:
    names = [
        f"toUnixTimestamp64Milli({c}) AS {c}" if c in TIMES else c
        for c in EVENT_COLUMNS  # the table's own order
    ]
    result = client.query(f"SELECT {', '.join(names)} FROM events ORDER BY kafka_offset")
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def test_stored_events_rows_equal_the_reference_decode(ch_client: Client) -> None:
    records = simulated_records(1200)
    batch = decode_records(records)
    rows = np.arange(batch.size)
    ClickHouseSink(ch_client).write("events", event_columns(batch, rows), "events|t:0:0-1")
    expected = reference_decode.decode(records).rows
    stored = stored_events(ch_client)
    assert len(stored) == len(expected) == 1200
    for got, want in zip(stored, expected, strict=True):
        assert {**got, "is_bot": bool(got["is_bot"]), "gpc": bool(got["gpc"])} == want
    assert orjson.loads(str(stored[5]["payload"]))["event_id"] == "x"
    assert stored[5]["fraud_flags"] == ["click_injection"]


def test_a_replayed_insert_with_its_token_is_stored_once(ch_client: Client) -> None:
    batch = decode_records(simulated_records(300))
    sink = ClickHouseSink(ch_client)
    picked = np.flatnonzero(np.arange(batch.size) % 2 == 0)
    for _ in range(2):
        sink.write("events", event_columns(batch, picked), "events|t:0:0-300")
    [[count]] = ch_client.query("SELECT count() FROM events").result_rows
    assert count == len(picked)


def test_inserted_parts_are_compact(ch_client: Client) -> None:
    batch = decode_records(simulated_records(2000))
    ClickHouseSink(ch_client).write("events", event_columns(batch, np.arange(2000)), "e|1")
    kinds = ch_client.query(
        "SELECT DISTINCT part_type FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'events' AND active"
    ).result_rows
    assert kinds == [("Compact",)]


def test_the_sink_counts_the_cpu_its_threads_spend_in_the_clients_calls(
    ch_client: Client,
) -> None:
    batch = decode_records(simulated_records(2000))
    sink = ClickHouseSink(ch_client)
    assert sink.client_cpu_seconds() == 0.0
    sink.write("events", event_columns(batch, np.arange(2000)), "e|cpu")
    after_insert = sink.client_cpu_seconds()
    assert after_insert > 0.0  # chDB parsed and wrote the part on this thread
    sink.query_rows("SELECT count() FROM events", {})
    assert sink.client_cpu_seconds() > after_insert
    sink.write("events", event_columns(batch, np.arange(0)), "e|none")  # nothing to insert
    assert sink.client_cpu_seconds() >= after_insert

"""The columnar decode equals the plain per-record decode (tests/.../reference_decode.py):
same `events` rows, same engine inputs, same refused records with the same reasons."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from attribution.ids import INSTALL_EVENT, hash_id
from services.attributor.decode import (
    EVENT_COLUMNS,
    conversions_of,
    decode_records,
    touch_names,
    touches_of,
)
from services.attributor.wire_columns import hash_strings, iso_ms, struct_rows, times_ms
from services.bus.records import Record
from services.collector.publisher import encode_event
from services.simulation.journeys import Mix, canonical_events, plan_journeys
from tests.services.attributor import reference_decode

START_MS = 1_795_428_000_000


def records_of(values: list[bytes], topic: str = "events.v1") -> list[Record]:
    return [Record(topic, i % 3, i, b"k", v, START_MS) for i, v in enumerate(values)]


def simulated(count: int, seed: int = 4) -> list[bytes]:
    mix = Mix(reverse=0.3, bots=0.1)
    events = canonical_events(plan_journeys(count // 3 + 1, seed, 86_400.0, mix), START_MS, seed)
    return [encode_event(e)[1] for e in events][:count]


def assert_same_as_reference(records: list[Record]) -> None:
    batch = decode_records(records)
    reference = reference_decode.decode(records)
    assert [(r.record.offset, r.detail) for r in batch.rejected] == reference.rejected
    assert all(r.reason == "undecodable_record" for r in batch.rejected)
    assert batch.size == len(reference.rows)
    for name in EVENT_COLUMNS:
        assert batch.events[name] == [row[name] for row in reference.rows], name
    assert batch.touch_rows == reference.touch_rows
    assert batch.conversion_rows == reference.conversion_rows
    assert batch.reversal_rows == reference.reversal_rows


def test_simulated_journeys_decode_as_the_reference_does() -> None:
    values = simulated(3000)
    kinds = {orjson.loads(v)["type"] for v in values}
    assert kinds == {"click", "impression", "conversion", "install", "reversal"}
    assert_same_as_reference(records_of(values))


def test_engine_inputs_are_the_hashed_reference_columns() -> None:
    records = records_of(simulated(2000))
    batch, reference = decode_records(records), reference_decode.decode(records)
    rows = reference.rows

    def hashed(name: str, picked: list[int]) -> list[int]:
        return [hash_id(rows[r][name]) for r in picked]

    touches = touches_of(batch)
    t = reference.touch_rows
    assert touches.touch_id.tolist() == hashed("event_id", t)
    assert touches.identity.tolist() == hashed("identity", t)
    assert touches.ts_ms.tolist() == [rows[r]["ts"] for r in t]
    assert touches.kind.tolist() == [reference_decode.TOUCH_TYPES[rows[r]["type"]] for r in t]
    assert touches.partner_id.tolist() == hashed("partner_id", t)
    assert touches.campaign_id.tolist() == hashed("campaign_id", t)
    assert touches.advertiser_id.tolist() == hashed("advertiser_id", t)
    assert touches.flags.tolist() == [
        int(rows[r]["is_bot"]) | (2 if rows[r]["fraud_flags"] else 0) for r in t
    ]
    assert 1 in touches.flags.tolist()  # the simulation has bots
    conversions = conversions_of(batch)
    c = reference.conversion_rows
    assert conversions.conversion_id.tolist() == hashed("event_id", c)
    assert conversions.event_name.tolist() == [
        INSTALL_EVENT if rows[r]["type"] == "install" else hash_id(rows[r]["event_name"]) for r in c
    ]
    assert conversions.revenue.tolist() == [rows[r]["revenue"] for r in c]
    assert conversions.order_id.tolist() == hashed("order_id", c)
    assert conversions.currency.tolist() == hashed("currency", c)
    assert conversions.click_id.tolist() == hashed("click_event_id", c)
    assert batch.names[int(touches.partner_id[0])] == rows[t[0]]["partner_id"]


def event(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "event_id": "e-1",
        "type": "conversion",
        "ts": "2026-11-23T18:03:29.172000Z",
        "visitor_id": "v-1",
        "revenue": 100,
    }
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


# records the reference decodes (or refuses) one way: the columnar decode must agree
AGREED = [
    pytest.param(b"{not json", id="invalid-json"),
    pytest.param(b"[1, 2]", id="json-list"),
    pytest.param(b"null", id="json-null"),
    pytest.param(b'"a string"', id="json-string"),
    pytest.param(event(event_id=...), id="no-event-id"),
    pytest.param(event(event_id=""), id="empty-event-id"),
    pytest.param(event(type=...), id="no-type"),
    pytest.param(event(ts=...), id="no-ts"),
    pytest.param(event(ts="yesterday"), id="ts-not-iso"),
    pytest.param(event(ts=12), id="ts-not-a-string"),
    pytest.param(event(ts="2026-02-30T00:00:00Z"), id="ts-no-such-day"),
    pytest.param(event(ts="2026-11-23T20:03:29+02:00"), id="ts-offset"),
    pytest.param(event(ts="2026-11-23T18:03:29.1234567Z"), id="ts-seven-digits"),
    pytest.param(event(ts="2026-11-23 18:03:29Z"), id="ts-space"),
    pytest.param(event(received_at="2026-11-23T18:03:30Z"), id="received-at"),
    pytest.param(event(received_at=""), id="received-at-empty"),
    pytest.param(event(received_at="later"), id="received-at-bad"),
    pytest.param(event(click_ts="2026-11-23T18:00:00.5Z"), id="click-ts"),
    pytest.param(event(click_ts="soon"), id="click-ts-bad"),
    pytest.param(event(click_ts=""), id="click-ts-empty"),
    pytest.param(event(revenue=1.5), id="revenue-float"),
    pytest.param(event(revenue=2.0), id="revenue-integral-float"),
    pytest.param(event(revenue="12"), id="revenue-string"),
    pytest.param(event()[:-1] + b',"revenue":1180591620717411303424}', id="revenue-huge"),
    pytest.param(event(revenue=...), id="no-revenue"),
    pytest.param(event(type="reversal", revenue=..., amount=40), id="reversal-amount"),
    pytest.param(event(revenue=None, amount=40), id="revenue-null-amount"),
    pytest.param(event(schema_version=2), id="schema-version"),
    pytest.param(event(visitor_id=..., device_id="D-1"), id="identity-device"),
    pytest.param(event(visitor_id=..., customer_id="c-9"), id="identity-customer"),
    pytest.param(event(visitor_id=None), id="identity-event"),
    pytest.param(event(type="install", event_name="ignored"), id="install"),
    pytest.param(event(type="impression", partner_id="p"), id="impression"),
    pytest.param(event(type="signup"), id="unknown-type"),
    pytest.param(event(ctit_seconds=12), id="ctit-int"),
    pytest.param(event(reason="chargeback", sub3="x", unknown_field={"a": 1}), id="extra"),
    pytest.param(
        event(
            context={
                "source": "sdk",
                "ip": "1.2.3.0",
                "user_agent": "UA",
                "is_bot": True,
                "fraud_flags": ["click_injection"],
                "consent": {"gdpr": False, "gpc": True},
            }
        ),
        id="context",
    ),
    pytest.param(event(context={"consent": {"gdpr": True}}), id="consent-only"),
    pytest.param(event(context=None), id="context-null"),
]


@pytest.mark.parametrize("value", AGREED)
def test_edge_cases_agree_with_the_reference(value: bytes) -> None:
    good = simulated(5)
    assert_same_as_reference(records_of([good[0], value, *good[1:]]))


# records the reference would have taken and then failed to insert (a poison pill that
# blocked the partition): refused now, naming the field
REFUSED_NOW = [
    (event(sub1=5), "sub1: Expected bytes"),
    (event(event_id=42), "event_id: Expected bytes"),
    (event(context={"is_bot": "yes"}), "context: Could not convert 'yes'"),
    (event(context="sdk"), "context: Could not convert 's'"),
    (event(ctit_seconds="fast"), "ctit_seconds: Could not convert 'fast'"),
    (event(revenue=True), "revenue: expected integer minor units"),
]


@pytest.mark.parametrize(("value", "detail"), REFUSED_NOW)
def test_badly_typed_fields_are_refused_with_their_name(value: bytes, detail: str) -> None:
    good = simulated(4)
    batch = decode_records(records_of([good[0], value, *good[1:]]))
    assert [r.record.offset for r in batch.rejected] == [1]
    assert batch.rejected[0].detail.startswith(detail), batch.rejected[0].detail
    assert batch.events["kafka_offset"] == [0, 2, 3, 4]


def test_many_bad_records_are_isolated_in_order() -> None:
    values = simulated(1500)
    bad = {7: event(sub2=1), 700: b"{", 701: event(ts="x"), 1499: event(event_id=[1])}
    for i, value in bad.items():
        values[i] = value
    batch = decode_records(records_of(values))
    assert [r.record.offset for r in batch.rejected] == sorted(bad)
    assert batch.size == 1500 - len(bad)
    assert batch.events["kafka_offset"] == [i for i in range(1500) if i not in bad]


def test_struct_rows_converts_the_good_rows_once_and_halves_around_bad_ones() -> None:
    events: list[Any] = [{"event_id": str(i)} for i in range(64)]
    events[10] = {"event_id": 1}
    kept, array, refused = struct_rows(events)
    assert kept == [i for i in range(64) if i != 10]
    assert array.field("event_id").to_pylist() == [str(i) for i in kept]
    assert list(refused) == [10]


def test_hash_strings_is_hash_id() -> None:
    values = ["", "a", "partner-ü", "e:" + "x" * 300, "install", *map(str, range(500))]
    assert hash_strings(values).tolist() == [hash_id(v) for v in values]


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-23T18:03:29.172000Z",
        "2026-11-23T18:03:29Z",
        "2026-11-23T18:03:29.1Z",
        "2026-11-23T18:03:29.999999-05:30",
        "1999-12-31T23:59:59+14:00",
        "2026-11-23T18:03:29.17200000Z",
        "2026-11-23T18:03",
        "2026-13-01T00:00:00Z",
        "nope",
    ],
)
def test_times_are_parsed_as_fromisoformat_parses_them(value: str) -> None:
    strings = pa.array([value, "2026-11-23T18:03:29.172Z"])
    ms, errors = times_ms(strings)
    assert ms[1] == 1795457009172
    try:
        expected = iso_ms(value)
    except ValueError:
        assert list(errors) == [0]
    else:
        assert errors == {}
        assert ms[0] == expected


def test_touch_names_are_distinct_in_first_seen_order() -> None:
    values = [
        event(event_id="1", type="click", partner_id="b", partner_type="", campaign_id="c1"),
        event(event_id="2", type="click", partner_id="a", partner_type="blog", campaign_id=""),
        event(event_id="3", type="conversion", partner_id="z"),
        event(event_id="4", type="impression", partner_id="b", partner_type="", campaign_id="c1"),
        event(event_id="5", type="click", partner_id="b", partner_type="tv", campaign_id="c1"),
    ]
    batch = decode_records(records_of(values))
    assert touch_names(batch) == [("b", "", "c1"), ("a", "blog", ""), ("b", "tv", "c1")]


def test_the_garbage_collector_is_left_as_it_was() -> None:
    records = records_of(simulated(50))
    assert gc.isenabled()
    decode_records(records)
    assert gc.isenabled()
    gc.disable()
    try:
        decode_records(records)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_empty_batch_has_empty_columns() -> None:
    batch = decode_records([])
    assert batch.size == 0
    assert len(touches_of(batch)) == 0
    assert len(conversions_of(batch)) == 0
    assert all(len(batch.arrays[name]) == 0 for name in EVENT_COLUMNS)
    assert np.asarray(batch.event_keys).shape == (0,)

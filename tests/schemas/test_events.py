from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.events import (
    Click,
    Conversion,
    Install,
    Reversal,
    event_adapter,
    parse_event,
)
from tracker.canonical import check_item
from tracker.errors import InvalidEvent
from tracker.sdk_batches import validate_item

TS = "2026-11-23T10:00:00Z"

VALID: list[dict[str, Any]] = [
    {"type": "impression", "ts": TS, "partner_id": "p1", "campaign_id": "c1", "visitor_id": "v"},
    {"type": "click", "ts": TS, "partner_id": "p1", "campaign_id": "c1", "sub1": "x"},
    {
        "type": "install",
        "ts": TS,
        "app_id": "id123",
        "device_id": "AAAA-BBBB",
        "device_id_type": "idfa",
        "click_ts": "2026-11-23T09:59:00Z",
        "ctit_seconds": 60,
    },
    {
        "type": "conversion",
        "ts": 1795428000000,
        "event_name": "purchase",
        "order_id": "o-1",
        "revenue": 1999,
        "currency": "EUR",
        "customer_id": "cust-9",
    },
    {"type": "conversion", "ts": TS, "event_name": "signup"},
    {"type": "reversal", "ts": TS, "order_id": "o-1", "amount": 500, "reason": "returned"},
    {"type": "reversal", "ts": TS, "order_id": "o-1"},
]


@pytest.mark.parametrize("data", VALID, ids=lambda d: d["type"])
def test_valid_events_parse(data: dict[str, Any]) -> None:
    event = parse_event(data)
    assert event.type == data["type"]
    assert event.ts.tzinfo is not None
    assert event.schema_version == 1


INVALID: list[tuple[dict[str, Any], str, str]] = [
    ({"type": "purchase", "ts": TS}, "", "does not match any of the expected tags"),
    ({"ts": TS}, "", "Unable to extract tag using discriminator"),
    ({"type": "click", "ts": TS, "campaign_id": "c1"}, "partner_id", "Field required"),
    ({"type": "impression", "partner_id": "p", "campaign_id": "c"}, "ts", "Field required"),
    (
        {"type": "conversion", "ts": TS, "event_name": "buy", "revenue": -1},
        "revenue",
        "greater than or equal to 0",
    ),
    (
        {"type": "conversion", "ts": TS, "event_name": "buy", "revenue": 12.5},
        "revenue",
        "valid integer",
    ),
    (
        {"type": "conversion", "ts": TS, "event_name": "buy", "currency": "euro"},
        "currency",
        "should match pattern",
    ),
    (
        {"type": "conversion", "ts": TS, "event_name": "Buy Now"},
        "event_name",
        "should match pattern",
    ),
    ({"type": "conversion", "ts": 1_700_000_000, "event_name": "buy"}, "ts", "before 2000-01-01"),
    ({"type": "conversion", "ts": True, "event_name": "buy"}, "ts", "not a boolean"),
    ({"type": "reversal", "ts": TS, "reason": "returned"}, "order_id", "Field required"),
    (
        {"type": "reversal", "ts": TS, "order_id": "o", "reason": "bored"},
        "reason",
        "Input should be 'returned'",
    ),
    (
        {"type": "install", "ts": TS, "app_id": "a", "conversion_value": 64},
        "conversion_value",
        "less than or equal to 63",
    ),
    (
        {"type": "click", "ts": TS, "partner_id": "p", "campaign_id": "c", "extra": 1},
        "extra",
        "Extra inputs are not permitted",
    ),
    (
        {"type": "click", "ts": TS, "partner_id": "has space", "campaign_id": "c"},
        "partner_id",
        "should match pattern",
    ),
    (
        {"type": "click", "ts": TS, "partner_id": "p", "campaign_id": "c", "event_id": "short"},
        "event_id",
        "at least 8 characters",
    ),
]


@pytest.mark.parametrize(("data", "field", "message"), INVALID, ids=lambda x: str(x)[:40])
def test_invalid_events_name_the_field_and_problem(
    data: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event(data)
    errors = info.value.errors()
    assert any(field in ".".join(map(str, e["loc"])) for e in errors), errors
    assert message in str(info.value)


def test_timestamps_are_utc_and_epoch_ms_accepted() -> None:
    event = parse_event({"type": "conversion", "ts": 1795428000000, "event_name": "buy"})
    assert event.ts == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    naive = parse_event({"type": "conversion", "ts": "2026-11-23T10:00:00", "event_name": "b"})
    assert naive.ts == datetime(2026, 11, 23, 10, tzinfo=UTC)
    offset = parse_event(
        {"type": "conversion", "ts": "2026-11-23T12:00:00+02:00", "event_name": "b"}
    )
    assert offset.ts == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_json_bytes_parse_and_round_trip() -> None:
    event = parse_event(b'{"type":"reversal","ts":"2026-11-23T10:00:00Z","order_id":"o-1"}')
    assert isinstance(event, Reversal)
    assert event.amount is None  # full reversal
    assert parse_event(event.model_dump_json().encode()) == event


@pytest.mark.parametrize(
    ("ids", "key"),
    [
        ({"visitor_id": "v1", "device_id": "d1", "customer_id": "c1"}, "v:v1"),
        ({"device_id": "d1", "customer_id": "c1"}, "d:d1"),
        ({"customer_id": "c1"}, "c:c1"),
        ({"event_id": "evt-00000001"}, "e:evt-00000001"),
    ],
)
def test_partition_key_prefers_visitor_then_device_then_customer(
    ids: dict[str, str], key: str
) -> None:
    event = Conversion(ts=datetime(2026, 1, 1, tzinfo=UTC), event_name="buy", **ids)
    assert event.partition_key() == key


def test_events_are_immutable() -> None:
    click = Click(ts=datetime(2026, 1, 1, tzinfo=UTC), partner_id="p", campaign_id="c")
    with pytest.raises(ValidationError, match="frozen"):
        click.partner_id = "other"  # type: ignore[misc]
    install = Install(ts=datetime(2026, 1, 1, tzinfo=UTC), app_id="a")
    assert install.model_copy(update={"event_id": "evt-12345678"}).event_id == "evt-12345678"


@pytest.mark.parametrize("ts", [9.2e21, float("nan"), -1e20])
def test_out_of_range_epoch_milliseconds_are_a_validation_error(ts: float) -> None:
    with pytest.raises(ValidationError, match="out of range"):
        event_adapter.validate_python({"type": "click", "ts": ts, "visitor_id": "v1"})


# --- Apple attribution (server-set on installs from SKAdNetwork / AdAttributionKit) ----------

APPLE = {"ad_network_id": "example123.skadnetwork", "conversion_type": "download"}


def test_an_install_carries_typed_apple_attribution_and_round_trips() -> None:
    apple = {**APPLE, "postback_sequence_index": 2, "did_win": False, "source_app_id": 7,
             "interaction_type": "view"}  # fmt: skip
    event = parse_event({"type": "install", "ts": TS, "app_id": "id1", "apple": apple})
    assert isinstance(event, Install)
    assert event.apple is not None
    assert (event.apple.postback_sequence_index, event.apple.did_win) == (2, False)
    assert not event.apple.counts_as_install
    assert parse_event(event.model_dump_json(exclude_none=True)) == event


def test_no_sender_may_set_the_apple_fields() -> None:
    """`apple` is the collector's, from a verified Apple postback: refused in any item (the
    fast canonicaliser declines it, so the pydantic path's refusal applies everywhere)."""
    apple = {"ad_network_id": "x.skadnetwork", "conversion_type": "download"}
    item = {"type": "install", "ts": TS, "app_id": "id1", "apple": apple}
    assert check_item(item) is None
    for server in (False, True):
        with pytest.raises(InvalidEvent, match="apple"):
            validate_item(
                item, max_event_bytes=32_000, check_size=False, allowed_server_only=server
            )
    install = parse_event({"type": "install", "ts": TS, "app_id": "id1"})
    assert "apple" not in install.model_dump_json(exclude_none=True)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"postback_sequence_index": 3}, "postback_sequence_index"),
     ({"conversion_type": "reinstall"}, "conversion_type"),
     ({"interaction_type": "tap"}, "interaction_type"),
     ({"source_app_id": -1}, "source_app_id"),
     ({"ad_network_id": ""}, "ad_network_id"),
     ({"campaign": "x"}, "campaign")],
)  # fmt: skip
def test_bad_apple_attribution_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_event({"type": "install", "ts": TS, "app_id": "id1", "apple": {**APPLE, **change}})
    assert caught.value.errors()[0]["loc"][-1] == field

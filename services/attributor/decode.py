"""Bus records -> columns: the `events` table's rows and the engine's touches / conversions.

This is the attributor's hot path, so there is no pydantic here: each record is parsed once
with orjson, its fields gathered into per-column lists, identifiers hashed to int64 once.
A record that cannot be decoded becomes a `Rejected` (dead letter) with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from attribution.columns import Conversions, Touches, TouchFlag, TouchKind
from attribution.ids import hash_id
from services.bus.records import Record

# (column, default) of the `events` table filled straight from the event's JSON fields.
TEXT_FIELDS: tuple[str, ...] = (
    "event_id",
    "type",
    "advertiser_id",
    "partner_id",
    "partner_type",
    "campaign_id",
    "click_id",
    "click_event_id",
    "visitor_id",
    "device_id",
    "device_id_type",
    "customer_id",
    "event_name",
    "order_id",
    "currency",
    "app_id",
    "install_id",
    "transaction_id",
    "source_identifier",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
)
TOUCH_TYPES = {"click": TouchKind.CLICK, "impression": TouchKind.IMPRESSION}
CONVERSION_TYPES = frozenset({"conversion", "install"})
INSTALL = "install"


class DecodeError(ValueError):
    """A record that is not a canonical event: it goes to the dead letters."""


@dataclass(frozen=True, slots=True)
class Rejected:
    record: Record
    reason: str
    detail: str


def iso_ms(value: Any, name: str) -> int:
    if not isinstance(value, str):
        raise DecodeError(f"{name}: expected an ISO-8601 time")
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError as exc:
        raise DecodeError(f"{name}: {exc}") from exc


def identity_of(event: dict[str, Any]) -> str:
    """The same key the collector used (schemas.events.EventBase.partition_key)."""
    for prefix, name in (("v", "visitor_id"), ("d", "device_id"), ("c", "customer_id")):
        value = event.get(name)
        if value:
            return f"{prefix}:{value}"
    return f"e:{event['event_id']}"


@dataclass(slots=True)
class DecodedBatch:
    """Everything one micro-batch holds, column by column, in record order."""

    events: dict[str, list[Any]] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    # engine inputs, parallel lists
    touch_rows: list[int] = field(default_factory=list)  # index into events rows
    conversion_rows: list[int] = field(default_factory=list)
    reversal_rows: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # hash -> string, for output

    @property
    def size(self) -> int:
        return len(self.events.get("event_id", ()))

    def column(self, name: str) -> list[Any]:
        return self.events[name]

    def h(self, value: str | None) -> int:
        """Hash a string id, remembering it so credits can be written back as strings."""
        key = hash_id(value)
        if key and key not in self.names:
            self.names[key] = value or ""
        return key


def _new_columns() -> dict[str, list[Any]]:
    names = (
        *TEXT_FIELDS,
        "event_key",
        "schema_version",
        "ts",
        "received_at",
        "revenue",
        "click_ts",
        "ctit_seconds",
        "reversal_reason",
        "source",
        "ip",
        "user_agent",
        "is_bot",
        "fraud_flags",
        "gdpr",
        "gpc",
        "identity",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "payload",
        "ts_ms",
    )
    return {n: [] for n in names}


def decode_records(records: list[Record]) -> DecodedBatch:
    """Decode a micro-batch; undecodable records are returned in `rejected`, never dropped."""
    batch = DecodedBatch(events=_new_columns())
    cols = batch.events
    for record in records:
        try:
            event = orjson.loads(record.value)
            if not isinstance(event, dict) or not event.get("event_id") or not event.get("type"):
                raise DecodeError("not a canonical event (no event_id or type)")
            ts_ms = iso_ms(event.get("ts"), "ts")
            received_ms = iso_ms(event.get("received_at") or event.get("ts"), "received_at")
            click_ts = event.get("click_ts")
            click_ms = iso_ms(click_ts, "click_ts") if click_ts else None
            revenue = event.get("revenue", event.get("amount", 0)) or 0
            if not isinstance(revenue, int):
                raise DecodeError("revenue: expected integer minor units")
        except (orjson.JSONDecodeError, DecodeError, KeyError, TypeError) as exc:
            batch.rejected.append(Rejected(record, "undecodable_record", str(exc)[:500]))
            continue
        context = event.get("context") or {}
        consent = context.get("consent") or {}
        row = len(cols["event_id"])
        for name in TEXT_FIELDS:
            cols[name].append(event.get(name) or "")
        cols["event_key"].append(batch.h(event["event_id"]))
        cols["schema_version"].append(int(event.get("schema_version", 1)))
        cols["ts"].append(ts_ms)
        cols["ts_ms"].append(ts_ms)
        cols["received_at"].append(received_ms)
        cols["revenue"].append(revenue)
        cols["click_ts"].append(click_ms)
        cols["ctit_seconds"].append(event.get("ctit_seconds"))
        cols["reversal_reason"].append(event.get("reason") or "")
        cols["source"].append(context.get("source") or "")
        cols["ip"].append(context.get("ip") or "")
        cols["user_agent"].append(context.get("user_agent") or "")
        cols["is_bot"].append(bool(context.get("is_bot")))
        cols["fraud_flags"].append(list(context.get("fraud_flags") or ()))
        cols["gdpr"].append(consent.get("gdpr"))
        cols["gpc"].append(bool(consent.get("gpc")))
        cols["identity"].append(identity_of(event))
        cols["kafka_topic"].append(record.topic)
        cols["kafka_partition"].append(record.partition)
        cols["kafka_offset"].append(record.offset)
        cols["payload"].append(record.value.decode("utf-8", errors="replace"))
        kind = event["type"]
        if kind in TOUCH_TYPES:
            batch.touch_rows.append(row)
        elif kind in CONVERSION_TYPES:
            batch.conversion_rows.append(row)
        elif kind == "reversal":
            batch.reversal_rows.append(row)
    return batch


def _i64(values: list[int]) -> NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


def touches_of(batch: DecodedBatch) -> Touches:
    cols, rows = batch.events, batch.touch_rows
    flags = [
        (TouchFlag.BOT if cols["is_bot"][r] else 0)
        | (TouchFlag.FRAUD if cols["fraud_flags"][r] else 0)
        for r in rows
    ]
    return Touches(
        touch_id=_i64([cols["event_key"][r] for r in rows]),
        identity=_i64([batch.h(cols["identity"][r]) for r in rows]),
        ts_ms=_i64([cols["ts_ms"][r] for r in rows]),
        kind=np.asarray([TOUCH_TYPES[cols["type"][r]] for r in rows], dtype=np.int8),
        partner_id=_i64([batch.h(cols["partner_id"][r]) for r in rows]),
        campaign_id=_i64([batch.h(cols["campaign_id"][r]) for r in rows]),
        advertiser_id=_i64([batch.h(cols["advertiser_id"][r]) for r in rows]),
        flags=np.asarray(flags, dtype=np.uint8),
    )


def conversions_of(batch: DecodedBatch) -> Conversions:
    cols, rows = batch.events, batch.conversion_rows
    return Conversions(
        conversion_id=_i64([cols["event_key"][r] for r in rows]),
        identity=_i64([batch.h(cols["identity"][r]) for r in rows]),
        ts_ms=_i64([cols["ts_ms"][r] for r in rows]),
        advertiser_id=_i64([batch.h(cols["advertiser_id"][r]) for r in rows]),
        event_name=_i64(
            [
                batch.h(INSTALL if cols["type"][r] == INSTALL else cols["event_name"][r])
                for r in rows
            ]
        ),
        order_id=_i64([batch.h(cols["order_id"][r]) for r in rows]),
        revenue=_i64([cols["revenue"][r] for r in rows]),
        currency=_i64([batch.h(cols["currency"][r]) for r in rows]),
        click_id=_i64([batch.h(cols["click_event_id"][r]) for r in rows]),
    )

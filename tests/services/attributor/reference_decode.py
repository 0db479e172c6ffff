"""A plain, per-record decode of bus records: the semantics the columnar decode keeps.

This is the attributor's former decode, one record and one field at a time, kept as the
reference the tests compare `services.attributor.decode` with (rows of the `events` table,
the engine's touches and conversions, and the refused records with their reasons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from attribution.ids import hash_id
from services.attributor.wire_columns import TEXT_FIELDS
from services.bus.records import Record

TOUCH_TYPES = {"click": 1, "impression": 0}  # TouchKind
CONVERSION_TYPES = frozenset({"conversion", "install"})


class NotAnEvent(ValueError):
    pass


def iso_ms(value: Any, name: str) -> int:
    if not isinstance(value, str):
        raise NotAnEvent(f"{name}: expected an ISO-8601 time")
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError as exc:
        raise NotAnEvent(f"{name}: {exc}") from exc


def identity_of(event: dict[str, Any]) -> str:
    for prefix, name in (("v", "visitor_id"), ("d", "device_id"), ("c", "customer_id")):
        if event.get(name):
            return f"{prefix}:{event[name]}"
    return f"e:{event['event_id']}"


@dataclass
class ReferenceBatch:
    rows: list[dict[str, Any]] = field(default_factory=list)  # `events` rows, record order
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (offset, detail)
    touch_rows: list[int] = field(default_factory=list)
    conversion_rows: list[int] = field(default_factory=list)
    reversal_rows: list[int] = field(default_factory=list)


def decode(records: list[Record]) -> ReferenceBatch:
    batch = ReferenceBatch()
    for record in records:
        try:
            event = orjson.loads(record.value)
            if not isinstance(event, dict) or not event.get("event_id") or not event.get("type"):
                raise NotAnEvent("not a canonical event (no event_id or type)")
            ts_ms = iso_ms(event.get("ts"), "ts")
            received_ms = iso_ms(event.get("received_at") or event.get("ts"), "received_at")
            click_ts = event.get("click_ts")
            click_ms = iso_ms(click_ts, "click_ts") if click_ts else None
            revenue = event.get("revenue", event.get("amount", 0)) or 0
            if not isinstance(revenue, int):
                raise NotAnEvent("revenue: expected integer minor units")
        except (orjson.JSONDecodeError, NotAnEvent) as exc:
            batch.rejected.append((record.offset, str(exc)[:500]))
            continue
        context = event.get("context") or {}
        consent = context.get("consent") or {}
        row: dict[str, Any] = {name: event.get(name) or "" for name in TEXT_FIELDS}
        row.update(
            event_key=hash_id(event["event_id"]),
            schema_version=int(event.get("schema_version", 1)),
            ts=ts_ms,
            received_at=received_ms,
            revenue=revenue,
            click_ts=click_ms,
            ctit_seconds=event.get("ctit_seconds"),
            reversal_reason=event.get("reason") or "",
            source=context.get("source") or "",
            ip=context.get("ip") or "",
            user_agent=context.get("user_agent") or "",
            is_bot=bool(context.get("is_bot")),
            fraud_flags=list(context.get("fraud_flags") or ()),
            gdpr=consent.get("gdpr"),
            gpc=bool(consent.get("gpc")),
            identity=identity_of(event),
            kafka_topic=record.topic,
            kafka_partition=record.partition,
            kafka_offset=record.offset,
            payload=record.value.decode(),
        )
        index = len(batch.rows)
        batch.rows.append(row)
        if event["type"] in TOUCH_TYPES:
            batch.touch_rows.append(index)
        elif event["type"] in CONVERSION_TYPES:
            batch.conversion_rows.append(index)
        elif event["type"] == "reversal":
            batch.reversal_rows.append(index)
    return batch

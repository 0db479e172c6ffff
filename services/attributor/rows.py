"""Columns of the ClickHouse tables, built from decoded batches and engine output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from attribution.columns import Conversions, Credits, Model, Role
from attribution.ids import hash_id
from services.attributor.decode import DecodedBatch, Rejected
from services.bus.records import Record

EVENT_COLUMNS = (
    "event_id", "event_key", "type", "schema_version", "ts", "received_at", "advertiser_id",
    "partner_id", "partner_type", "campaign_id", "click_id", "click_event_id", "visitor_id",
    "device_id", "device_id_type", "customer_id", "event_name", "order_id", "revenue",
    "currency", "app_id", "install_id", "click_ts", "ctit_seconds", "transaction_id",
    "source_identifier", "reversal_reason", "sub1", "sub2", "sub3", "sub4", "sub5", "source",
    "ip", "user_agent", "is_bot", "fraud_flags", "gdpr", "gpc", "identity", "kafka_topic",
    "kafka_partition", "kafka_offset", "payload",
)  # fmt: skip
MODEL_NAMES = {int(m): m.name.lower() for m in Model}
ROLE_NAMES = {int(r): r.name.lower() for r in Role}
MODEL_IDS = {name: value for value, name in MODEL_NAMES.items()}
ROLE_IDS = {name: value for value, name in ROLE_NAMES.items()}
Columns = dict[str, Sequence[Any]]


def event_columns(batch: DecodedBatch, rows: NDArray[np.intp]) -> Columns:
    cols = batch.events
    picked = rows.tolist()
    return {name: [cols[name][r] for r in picked] for name in EVENT_COLUMNS}


def rejected_columns(items: Sequence[Rejected]) -> Columns:
    """Records of events.v1 the attributor could not decode."""
    return {
        "rejected_id": [f"{r.record.topic}:{r.record.partition}:{r.record.offset}" for r in items],
        "received_at": [r.record.timestamp_ms for r in items],
        "endpoint": [ATTRIBUTOR_ENDPOINT] * len(items),
        "source": ["bus"] * len(items),
        "advertiser_id": [""] * len(items),
        "reason": [r.reason for r in items],
        "detail": [r.detail for r in items],
        "status_code": [0] * len(items),
        "raw": [r.record.value[:65536].decode("utf-8", errors="replace") for r in items],
        "kafka_topic": [r.record.topic for r in items],
        "kafka_partition": [r.record.partition for r in items],
        "kafka_offset": [r.record.offset for r in items],
    }


ATTRIBUTOR_ENDPOINT = "attributor:decode"


def dead_letter_columns(records: Sequence[Record]) -> tuple[Columns, list[Rejected]]:
    """Dead letters published by the collector (events.dlq.v1) -> rejected_events rows.

    Copies the attributor published itself (endpoint `attributor:decode`) are skipped: the
    attributor stored those rows when it refused the records."""
    keys = ("rejected_id", "received_at", "endpoint", "source", "advertiser_id", "reason",
            "detail", "status_code", "raw")  # fmt: skip
    cols: Columns = {k: [] for k in (*keys, "kafka_topic", "kafka_partition", "kafka_offset")}
    bad: list[Rejected] = []
    for record in records:
        try:
            letter = orjson.loads(record.value)
            values = [letter["rejected_id"], int(letter["received_at_ms"]), letter["endpoint"],
                      letter["source"], letter.get("advertiser_id", ""), letter["reason"],
                      letter.get("detail", ""), int(letter.get("status_code", 0)),
                      letter.get("raw", "")]  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            bad.append(Rejected(record, "undecodable_dead_letter", str(exc)[:500]))
            continue
        if letter["endpoint"] == ATTRIBUTOR_ENDPOINT:
            continue
        for key, value in zip(keys, values, strict=True):
            cols[key].append(value)  # type: ignore[attr-defined]
        cols["kafka_topic"].append(record.topic)  # type: ignore[attr-defined]
        cols["kafka_partition"].append(record.partition)  # type: ignore[attr-defined]
        cols["kafka_offset"].append(record.offset)  # type: ignore[attr-defined]
    return cols, bad


@dataclass(frozen=True, slots=True)
class ConversionInfo:
    """What a credit row repeats from its conversion (strings, times, source offsets)."""

    conversion_id: str
    conversion_ts_ms: int
    advertiser_id: str
    identity: str
    event_name: str
    order_id: str
    currency: str
    kafka_topic: str
    kafka_partition: int
    kafka_offset: int

    @classmethod
    def from_row(cls, batch: DecodedBatch, row: int) -> ConversionInfo:
        cols = batch.events
        return cls(
            conversion_id=cols["event_id"][row],
            conversion_ts_ms=cols["ts_ms"][row],
            advertiser_id=cols["advertiser_id"][row],
            identity=cols["identity"][row],
            event_name="install" if cols["type"][row] == "install" else cols["event_name"][row],
            order_id=cols["order_id"][row],
            currency=cols["currency"][row],
            kafka_topic=cols["kafka_topic"][row],
            kafka_partition=cols["kafka_partition"][row],
            kafka_offset=cols["kafka_offset"][row],
        )


def conversions_of_infos(
    keys: Sequence[int],
    infos: Mapping[int, ConversionInfo],
    revenue: Mapping[int, int] | None = None,
) -> Conversions:
    """Engine conversion rows for conversions known only by their stored info (earlier
    batches): what the payout rules need of them (no identity, no click)."""
    n = len(keys)
    zeros = np.zeros(n, np.int64)
    return Conversions(
        conversion_id=np.array(keys, np.int64).reshape(n),
        identity=zeros,
        ts_ms=np.array([infos[k].conversion_ts_ms for k in keys], np.int64).reshape(n),
        advertiser_id=np.array([hash_id(infos[k].advertiser_id) for k in keys], np.int64).reshape(
            n
        ),
        event_name=np.array([hash_id(infos[k].event_name) for k in keys], np.int64).reshape(n),
        order_id=np.array([hash_id(infos[k].order_id) for k in keys], np.int64).reshape(n),
        revenue=np.array([(revenue or {}).get(k, 0) for k in keys], np.int64).reshape(n),
        currency=np.array([hash_id(infos[k].currency) for k in keys], np.int64).reshape(n),
        click_id=zeros,
    )


def credit_columns(
    credits: Credits,
    conversions: Mapping[int, ConversionInfo],
    partner_names: Mapping[int, str],
    partner_types: Mapping[str, str],
    attributed_at_ms: int,
    *,
    is_reversal: bool,
    source: Mapping[int, ConversionInfo] | None = None,
    campaigns: Sequence[str] | None = None,
) -> Columns:
    """attribution_credits rows. `source` (reversals) gives the offsets the rows come from,
    by conversion key; otherwise they come from the conversion itself."""
    conv = [conversions[int(k)] for k in credits.conversion_id.tolist()]
    origin = [source[int(k)] for k in credits.conversion_id.tolist()] if source else conv
    partners = [partner_names.get(int(p), str(p)) for p in credits.partner_id.tolist()]
    n = len(credits)
    return {
        "conversion_id": [c.conversion_id for c in conv],
        "conversion_ts": [c.conversion_ts_ms for c in conv],
        "touch_key": credits.touch_id.tolist(),
        "advertiser_id": [c.advertiser_id for c in conv],
        "partner_id": partners,
        "partner_type": [partner_types.get(p, "") for p in partners],
        "campaign_id": list(campaigns) if campaigns is not None else [""] * n,
        "identity": [c.identity for c in conv],
        "event_name": [c.event_name for c in conv],
        "order_id": [c.order_id for c in conv],
        "model": [MODEL_NAMES[m] for m in credits.model.tolist()],
        "role": [ROLE_NAMES[r] for r in credits.role.tolist()],
        "position": credits.position.tolist(),
        "path_length": credits.path_length.tolist(),
        "weight": credits.weight.tolist(),
        "credited_revenue": credits.credited_revenue.tolist(),
        "currency": [c.currency for c in conv],
        "is_reversal": [is_reversal] * n,
        "contract_id": [""] * n,
        "contract_version": [0] * n,
        "attributed_at": [attributed_at_ms] * n,
        "kafka_topic": [o.kafka_topic for o in origin],
        "kafka_partition": [o.kafka_partition for o in origin],
        "kafka_offset": [o.kafka_offset for o in origin],
    }


def filter_columns(columns: Columns, keep: Sequence[bool]) -> Columns:
    return {
        k: [v for v, ok in zip(values, keep, strict=True) if ok] for k, values in columns.items()
    }


def dead_letters_of(items: Sequence[Rejected]) -> list[tuple[bytes, bytes]]:
    """The refused records as dead letters for the DLQ topic (key = the stable rejected id)."""
    out = []
    for r in items:
        rejected_id = f"{r.record.topic}:{r.record.partition}:{r.record.offset}"
        letter = {
            "rejected_id": rejected_id, "received_at_ms": r.record.timestamp_ms,
            "endpoint": ATTRIBUTOR_ENDPOINT, "source": "bus", "reason": r.reason,
            "detail": r.detail, "status_code": 0, "advertiser_id": "",
            "raw": r.record.value[:65536].decode("utf-8", errors="replace"),
        }  # fmt: skip
        out.append((rejected_id.encode(), orjson.dumps(letter)))
    return out

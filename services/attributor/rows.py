"""Columns of the ClickHouse tables, built from decoded batches and engine output."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain, compress
from typing import Any, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from attribution.columns import Conversions, Credits, Model, Role
from attribution.ids import hash_id
from services.attributor.decode import EVENT_COLUMNS, INSTALL, DecodedBatch, Rejected
from services.bus.records import Record

MODEL_NAMES = {int(m): m.name.lower() for m in Model}
ROLE_NAMES = {int(r): r.name.lower() for r in Role}
MODEL_IDS = {name: value for value, name in MODEL_NAMES.items()}
ROLE_IDS = {name: value for value, name in ROLE_NAMES.items()}
Columns = dict[str, Sequence[Any]]
TIMESTAMP = pa.timestamp("ms", tz="UTC")


def event_columns(batch: DecodedBatch, rows: NDArray[np.intp]) -> Columns:
    """The `events` table's columns (Arrow arrays) for `rows` (increasing) of the batch."""
    if rows.shape[0] == batch.size:
        return {name: batch.arrays[name] for name in EVENT_COLUMNS}
    index = pa.array(rows, pa.int64())
    return {name: batch.arrays[name].take(index) for name in EVENT_COLUMNS}


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


class ConversionInfo(NamedTuple):
    """What a credit row repeats from its conversion (strings, times, source offsets).

    A NamedTuple, not a frozen dataclass: one is built per conversion and per stored credit
    a reversal looks up, and a frozen dataclass is three times slower to build."""

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


def conversion_infos(batch: DecodedBatch, rows: Sequence[int]) -> dict[int, ConversionInfo]:
    """`ConversionInfo.from_row` of each of `rows`, by conversion key (column by column)."""
    keys = batch.event_keys[np.asarray(rows, np.intp)].tolist()
    return dict(zip(keys, conversion_info_list(batch, rows), strict=True))


def conversion_info_list(batch: DecodedBatch, rows: Sequence[int]) -> list[ConversionInfo]:
    """`ConversionInfo.from_row` of each of `rows`, in order (column by column)."""
    index = pa.array(rows, pa.int64())

    def column(name: str) -> list[Any]:
        values: list[Any] = batch.arrays[name].take(index).to_pylist()
        return values

    picked = np.asarray(rows, np.intp)
    kinds, names = column("type"), column("event_name")
    return [
        ConversionInfo(*values)
        for values in zip(
            column("event_id"),
            batch.ts_ms[picked].tolist(),
            column("advertiser_id"),
            column("identity"),
            [INSTALL if k == INSTALL else n for k, n in zip(kinds, names, strict=True)],
            column("order_id"),
            column("currency"),
            column("kafka_topic"),
            column("kafka_partition"),
            column("kafka_offset"),
            strict=True,
        )
    ]


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
    campaigns: Sequence[str] | pa.Array | None = None,
) -> Columns:
    """attribution_credits rows, as Arrow columns. `source` (reversals) gives the offsets the
    rows come from, by conversion key; otherwise they come from the conversion itself.

    Column by column: what a row repeats of its conversion (or partner, model, role) is
    built once per distinct value and gathered by Arrow; no Python object per row."""
    n = len(credits)
    conv = info_columns(credits.conversion_id, conversions, CONVERSION_FIELDS)
    origin = info_columns(credits.conversion_id, source or conversions, SOURCE_FIELDS)
    partners = named_column(credits.partner_id, lambda p: partner_names.get(p, str(p)))
    campaign = (
        repeated("", n) if campaigns is None
        else campaigns if isinstance(campaigns, pa.Array)
        else pa.array(campaigns, pa.string())
    )  # fmt: skip
    return {
        "conversion_id": conv["conversion_id"],
        "conversion_ts": conv["conversion_ts"],
        "touch_key": pa.array(credits.touch_id, pa.int64()),
        "advertiser_id": conv["advertiser_id"],
        "partner_id": partners,
        "partner_type": looked_up(partners, lambda p: partner_types.get(p, "")),
        "campaign_id": campaign,
        "identity": conv["identity"],
        "event_name": conv["event_name"],
        "order_id": conv["order_id"],
        "model": named_column(credits.model, MODEL_NAMES.__getitem__),
        "role": named_column(credits.role, ROLE_NAMES.__getitem__),
        "position": pa.array(credits.position, pa.int32()),
        "path_length": pa.array(credits.path_length, pa.int32()),
        "weight": pa.array(credits.weight, pa.float64()),
        "credited_revenue": pa.array(credits.credited_revenue, pa.int64()),
        "currency": conv["currency"],
        "is_reversal": pa.array(np.full(n, is_reversal, np.bool_)),
        "contract_id": repeated("", n),
        "contract_version": pa.array(np.zeros(n, np.int64)),
        "attributed_at": timestamps_of(np.full(n, attributed_at_ms, np.int64)),
        **origin,
    }


# column -> (ConversionInfo field, Arrow type): what a row repeats of its conversion
CONVERSION_FIELDS: dict[str, tuple[str, pa.DataType]] = {
    "conversion_id": ("conversion_id", pa.string()),
    "conversion_ts": ("conversion_ts_ms", TIMESTAMP),
    "advertiser_id": ("advertiser_id", pa.string()),
    "identity": ("identity", pa.string()),
    "event_name": ("event_name", pa.string()),
    "order_id": ("order_id", pa.string()),
    "currency": ("currency", pa.string()),
}
# ... and of the record it is written from (the sink's high-water marks)
SOURCE_FIELDS: dict[str, tuple[str, pa.DataType]] = {
    "kafka_topic": ("kafka_topic", pa.string()),
    "kafka_partition": ("kafka_partition", pa.int32()),
    "kafka_offset": ("kafka_offset", pa.int64()),
}


def info_columns(
    keys: NDArray[np.int64],
    infos: Mapping[int, ConversionInfo],
    fields: Mapping[str, tuple[str, pa.DataType]],
) -> dict[str, pa.Array]:
    """For each of `keys`, `fields` of `infos[key]` (column -> (field, Arrow type)), as
    Arrow columns: each distinct key's info is read once and Arrow gathers the rows."""
    distinct, of_key = np.unique(keys, return_inverse=True)
    index = pa.array(of_key.reshape(-1), pa.int64())
    # the infos transposed: one tuple per field (NamedTuples make this one C call)
    table = list(zip(*[infos[k] for k in distinct.tolist()], strict=True))
    at = ConversionInfo._fields.index
    out = {}
    for column, (name, kind) in fields.items():
        values = table[at(name)] if table else ()
        if kind == TIMESTAMP:
            out[column] = pa.array(values, pa.int64()).cast(TIMESTAMP).take(index)
        else:
            out[column] = pa.array(values, kind).take(index)
    return out


def named_column(codes: NDArray[Any], name: Callable[[int], str]) -> pa.Array:
    """`name(code)` of each code, as a string column (`name` called once per distinct
    code)."""
    distinct, index = np.unique(codes, return_inverse=True)
    names = pa.array([name(int(c)) for c in distinct.tolist()], pa.string())
    return names.take(pa.array(index.reshape(-1), pa.int64()))


def looked_up(column: pa.Array, value: Callable[[str], str]) -> pa.Array:
    """`value(s)` of each string of `column` (called once per distinct string)."""
    encoded = pc.dictionary_encode(column)
    values = pa.array([value(s) for s in encoded.dictionary.to_pylist()], pa.string())
    return values.take(encoded.indices)


def repeated(value: str, n: int) -> pa.Array:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, np.int64)))


def timestamps_of(ms: NDArray[np.int64]) -> pa.Array:
    """Epoch milliseconds as a DateTime64(3, 'UTC') column."""
    return pa.array(ms, pa.int64()).cast(TIMESTAMP)


def filter_columns(columns: Columns, keep: Sequence[bool] | NDArray[np.bool_]) -> Columns:
    """The rows of `columns` where `keep` is true (lists stay lists, Arrow stays Arrow)."""
    mask = np.asarray(keep, np.bool_)
    if bool(mask.all()):
        return dict(columns)
    out: Columns = {}
    for name, values in columns.items():
        if isinstance(values, pa.Array | pa.ChunkedArray):
            out[name] = values.filter(pa.array(mask))
        else:
            if len(values) != mask.shape[0]:
                raise ValueError(f"column {name} has {len(values)} rows, not {mask.shape[0]}")
            out[name] = list(compress(values, mask.tolist()))
    return out


def concat_columns(parts: Sequence[Columns]) -> Columns:
    """The rows of `parts` (tables of the same columns), one after the other."""
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return dict(parts[0]) if parts else {}
    names = list(parts[0])
    if any(list(p) != names for p in parts[1:]):
        raise ValueError("parts with different columns cannot be concatenated")
    out: Columns = {}
    for name in names:
        values = [p[name] for p in parts]
        if all(isinstance(v, pa.Array) for v in values):
            out[name] = pa.concat_arrays(values)
        else:
            out[name] = list(chain.from_iterable(values))
    return out


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

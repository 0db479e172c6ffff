"""Bus records -> columns: the `events` table's rows and the engine's touches / conversions.

This is the attributor's hot path, so it works a whole micro-batch at a time: each record is
parsed once with orjson, Arrow gathers the fields of all of them into typed columns
(`wire_columns.py`), the `events` table is written from those columns as they are, and the
engine's inputs are numpy arrays taken from them (each distinct identifier hashed to int64
once). No pydantic, and no Python code per field and per event.

A record that cannot be decoded becomes a `Rejected` (dead letter) with its reason; the
other records of its batch go on.

`DecodedBatch.events` still offers every column as a Python list (built on first use), for
the stages that look at a few rows one by one (conversions, reversals, installs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from attribution.columns import Conversions, Touches, TouchFlag, TouchKind
from attribution.ids import INSTALL_EVENT, hash_id
from services.attributor.gc_pacing import gc_paused
from services.attributor.wire_columns import (
    TEXT_FIELDS,
    binary_column,
    hash_column,
    hash_strings,
    struct_rows,
    text,
    times_ms,
    timestamps,
)
from services.bus.records import Record

TOUCH_TYPES = {"click": TouchKind.CLICK, "impression": TouchKind.IMPRESSION}
CONVERSION_TYPES = frozenset({"conversion", "install"})
INSTALL = "install"
UNDECODABLE = "undecodable_record"
NOT_AN_EVENT = "not a canonical event (no event_id or type)"
# The `events` table's columns, in the order they are written.
EVENT_COLUMNS = (
    "event_id", "event_key", "type", "schema_version", "ts", "received_at", "advertiser_id",
    "partner_id", "partner_type", "campaign_id", "click_id", "click_event_id", "visitor_id",
    "device_id", "device_id_type", "customer_id", "event_name", "order_id", "revenue",
    "currency", "app_id", "install_id", "click_ts", "ctit_seconds", "transaction_id",
    "source_identifier", "reversal_reason", "sub1", "sub2", "sub3", "sub4", "sub5", "source",
    "ip", "user_agent", "is_bot", "fraud_flags", "gdpr", "gpc", "identity", "kafka_topic",
    "kafka_partition", "kafka_offset", "payload",
)  # fmt: skip
I64 = NDArray[np.int64]
_EMPTY_FLAGS = pa.scalar([], pa.list_(pa.string()))
_KIND_CODES = {"click": 1, "impression": 2, "conversion": 3, "install": 3, "reversal": 4}


@dataclass(frozen=True, slots=True)
class Rejected:
    record: Record
    reason: str
    detail: str


class EventColumns(Mapping[str, list[Any]]):
    """The batch's columns as Python lists, each built the first time it is asked for."""

    def __init__(self, batch: DecodedBatch) -> None:
        self._batch = batch
        self._lists: dict[str, list[Any]] = {}

    def __getitem__(self, name: str) -> list[Any]:
        values = self._lists.get(name)
        if values is None:
            values = self._lists[name] = self._batch.pylist(name)
        return values

    def __iter__(self) -> Iterator[str]:
        return iter((*EVENT_COLUMNS, "ts_ms"))

    def __len__(self) -> int:
        return len(EVENT_COLUMNS) + 1


@dataclass(slots=True, eq=False)
class DecodedBatch:
    """Everything one micro-batch holds, column by column, in record order."""

    arrays: dict[str, pa.Array]  # the `events` table's columns (EVENT_COLUMNS)
    event_keys: I64  # hash_id(event_id)
    ts_ms: I64
    received_ms: I64
    revenue: I64
    codes: NDArray[np.int8]  # 1 click, 2 impression, 3 conversion or install, 4 reversal
    flags: NDArray[np.uint8]  # TouchFlag bits
    rejected: list[Rejected] = field(default_factory=list)
    # rows of the engine's inputs (the attributor drops repeated event ids from them)
    touch_rows: list[int] = field(default_factory=list)
    conversion_rows: list[int] = field(default_factory=list)
    reversal_rows: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # hash -> string, for output
    _hashes: dict[str, I64] = field(default_factory=dict)
    _view: EventColumns | None = None
    _installs: NDArray[np.bool_] | None = None

    @property
    def size(self) -> int:
        return int(self.event_keys.shape[0])

    @property
    def events(self) -> EventColumns:
        if self._view is None:
            self._view = EventColumns(self)
        return self._view

    def column(self, name: str) -> list[Any]:
        return self.events[name]

    def h(self, value: str | None) -> int:
        """Hash a string id, remembering it so credits can be written back as strings."""
        key = hash_id(value)
        if key and key not in self.names:
            self.names[key] = value or ""
        return key

    def hashed(self, name: str) -> I64:
        """hash_id of every value of a string column (names remembered)."""
        hashes = self._hashes.get(name)
        if hashes is None:
            hashes = self._hashes[name] = hash_column(self.arrays[name], self.names)
        return hashes

    def installs(self) -> NDArray[np.bool_]:
        """For each row, whether it is an install (`type` "install")."""
        if self._installs is None:
            is_install = pc.equal(self.arrays["type"], INSTALL)
            self._installs = is_install.to_numpy(zero_copy_only=False).astype(np.bool_)
        return self._installs

    def post_install_rows(self) -> list[int]:
        """The conversion rows that name their install (`install_id`) and are not installs:
        in-app events the attributor may credit from their install's credits."""
        rows = np.asarray(self.conversion_rows, np.intp)
        names = pc.not_equal(self.arrays["install_id"], "").to_numpy(zero_copy_only=False)
        return rows[names[rows] & ~self.installs()[rows]].tolist()  # type: ignore[no-any-return]

    def network_install_rows(self) -> list[int]:
        """The install rows that name a partner and a `source` (candidates for installs a
        network attributed itself, such as Apple's postbacks)."""
        rows = np.asarray(self.conversion_rows, np.intp)
        named = pc.and_(
            pc.not_equal(self.arrays["partner_id"], ""), pc.not_equal(self.arrays["source"], "")
        ).to_numpy(zero_copy_only=False)
        return rows[named[rows] & self.installs()[rows]].tolist()  # type: ignore[no-any-return]

    def pylist(self, name: str) -> list[Any]:
        """One column as Python values (times in epoch milliseconds)."""
        numeric = {"ts": self.ts_ms, "ts_ms": self.ts_ms, "received_at": self.received_ms,
                   "event_key": self.event_keys, "revenue": self.revenue}  # fmt: skip
        if name in numeric:
            return numeric[name].tolist()  # type: ignore[no-any-return]
        array = self.arrays[name]
        if name == "click_ts":
            array = array.cast(pa.int64())
        values: list[Any] = array.to_pylist()
        return values


def decode_records(records: Sequence[Record]) -> DecodedBatch:
    """Decode a micro-batch; undecodable records are returned in `rejected`, never dropped."""
    rejected: dict[int, str] = {}
    values = [r.value for r in records]
    with gc_paused():
        events, parsed = _parse(values, rejected)
        kept, structs, refused = struct_rows(events)
        for j, why in refused.items():
            rejected[parsed[j]] = why
        rows = parsed if len(kept) == len(parsed) else [parsed[j] for j in kept]
        if len(kept) < len(events):
            events = [events[j] for j in kept]
        picked = records if len(rows) == len(records) else [records[i] for i in rows]
        payload = binary_column(values if picked is records else [r.value for r in picked])
        batch, refused_rows = _columns(structs, picked, events, payload)
        del events  # freed here, by reference counting (parsed JSON holds no cycles)
    for j, why in refused_rows.items():
        rejected[rows[j]] = why
    batch.rejected = [
        Rejected(records[i], UNDECODABLE, rejected[i][:500]) for i in sorted(rejected)
    ]
    codes = batch.codes
    batch.touch_rows = np.flatnonzero((codes == 1) | (codes == 2)).tolist()
    batch.conversion_rows = np.flatnonzero(codes == 3).tolist()
    batch.reversal_rows = np.flatnonzero(codes == 4).tolist()
    return batch


def _parse(values: Sequence[bytes], rejected: dict[int, str]) -> tuple[list[Any], list[int]]:
    """(parsed JSON values, the index of each one's record)."""
    loads = orjson.loads
    try:
        return [loads(v) for v in values], list(range(len(values)))
    except orjson.JSONDecodeError:
        pass
    events, parsed = [], []
    for i, value in enumerate(values):
        try:
            events.append(loads(value))
        except orjson.JSONDecodeError as exc:
            rejected[i] = str(exc)
            continue
        parsed.append(i)
    return events, parsed


def _columns(
    structs: pa.StructArray, records: Sequence[Record], events: Sequence[Any], payload: pa.Array
) -> tuple[DecodedBatch, dict[int, str]]:
    """The batch's columns from well-typed events (`structs`, and `events` as parsed); {row:
    why} for rows that are still not events (no id or type, a bad time, a revenue that is
    not an integer), which are left out."""
    f = structs.field
    texts = {name: text(f(name)) for name in TEXT_FIELDS}
    ids, kinds = texts["event_id"], texts["type"]
    is_event = pc.and_(structs.is_valid(), pc.and_(pc.not_equal(ids, ""), pc.not_equal(kinds, "")))
    errors: list[dict[int, str]] = [
        {int(r): NOT_AN_EVENT for r in np.flatnonzero(~is_event.to_numpy(zero_copy_only=False))}
    ]
    ts_ms, bad = times_ms(f("ts"))
    errors.append({r: f"ts: {e}" for r, e in bad.items()})
    received = f("received_at")
    received = pc.if_else(pc.fill_null(pc.not_equal(received, ""), False), received, f("ts"))
    received_ms, bad = times_ms(received)
    errors.append({r: f"received_at: {e}" for r, e in bad.items()})
    click_strings = f("click_ts")
    has_click = pc.fill_null(pc.not_equal(click_strings, ""), False).to_numpy(zero_copy_only=False)
    click_ms = np.zeros(len(structs), np.int64)
    if has_click.any():
        click_ms[has_click], bad = times_ms(click_strings.filter(pa.array(has_click)))
        at = np.flatnonzero(has_click)
        errors.append({int(at[r]): f"click_ts: {e}" for r, e in bad.items()})
    revenue, bad = _revenue(structs, events)
    errors.append(bad)
    refused: dict[int, str] = {}
    for found in errors:
        for row, why in found.items():
            refused.setdefault(row, why)
    context = structs.field("context")

    def ctx(*path: str) -> pa.Array:
        return pc.struct_field(context, list(path))

    fraud_flags = pc.fill_null(ctx("fraud_flags"), _EMPTY_FLAGS)
    is_bot = pc.fill_null(ctx("is_bot"), False)
    arrays: dict[str, pa.Array] = {
        **texts,
        "schema_version": pc.fill_null(f("schema_version"), 1),
        "ts": timestamps(ts_ms),
        "received_at": timestamps(received_ms),
        "revenue": pa.array(revenue),
        "click_ts": timestamps(click_ms, has_click),
        "ctit_seconds": f("ctit_seconds"),
        "reversal_reason": text(f("reason")),
        "source": text(ctx("source")),
        "ip": text(ctx("ip")),
        "user_agent": text(ctx("user_agent")),
        "is_bot": is_bot,
        "fraud_flags": fraud_flags,
        "gdpr": ctx("consent", "gdpr"),
        "gpc": pc.fill_null(ctx("consent", "gpc"), False),
        "identity": _identity(texts),
        "kafka_topic": pa.array([r.topic for r in records], pa.string()),
        "kafka_partition": pa.array([r.partition for r in records], pa.int32()),
        "kafka_offset": pa.array([r.offset for r in records], pa.int64()),
        "payload": payload,
    }
    flags = np.where(is_bot.to_numpy(zero_copy_only=False), np.uint8(TouchFlag.BOT), np.uint8(0))
    fraud = pc.greater(pc.list_value_length(fraud_flags), 0).to_numpy(zero_copy_only=False)
    flags |= np.where(fraud, np.uint8(TouchFlag.FRAUD), np.uint8(0))
    encoded = pc.dictionary_encode(kinds)
    lookup = [_KIND_CODES.get(k, 0) for k in encoded.dictionary.to_pylist()]
    codes = np.asarray(lookup, np.int8)[encoded.indices.to_numpy(zero_copy_only=False)]
    event_keys = hash_strings(ids.to_pylist())
    arrays["event_key"] = pa.array(event_keys)
    batch = DecodedBatch(
        arrays={name: arrays[name] for name in EVENT_COLUMNS},
        event_keys=event_keys,
        ts_ms=ts_ms,
        received_ms=received_ms,
        revenue=revenue,
        codes=codes.reshape(len(structs)),
        flags=flags,
    )
    if refused:
        batch = _without(batch, sorted(refused))
    return batch, refused


def _revenue(structs: pa.StructArray, events: Sequence[Any]) -> tuple[I64, dict[int, str]]:
    """`revenue` (else `amount`, else 0) in integer minor units; Arrow took integral floats
    too, so the rows that carry money are checked as parsed (conversions and reversals)."""
    money = pc.or_(structs.field("revenue").is_valid(), structs.field("amount").is_valid())
    money = pc.and_(money, structs.is_valid())  # a null event's fields read as valid zeros
    rows = np.flatnonzero(money.to_numpy(zero_copy_only=False)).tolist()
    out = np.zeros(len(structs), np.int64)
    refused: dict[int, str] = {}
    for row in rows:
        event = events[row]
        value = event.get("revenue", event.get("amount", 0)) or 0
        if isinstance(value, int):
            out[row] = value
        else:
            refused[row] = "revenue: expected integer minor units"
    return out, refused


def _without(batch: DecodedBatch, rows: list[int]) -> DecodedBatch:
    keep = np.ones(batch.size, np.bool_)
    keep[rows] = False
    mask = pa.array(keep)
    return DecodedBatch(
        arrays={name: array.filter(mask) for name, array in batch.arrays.items()},
        event_keys=batch.event_keys[keep],
        ts_ms=batch.ts_ms[keep],
        received_ms=batch.received_ms[keep],
        revenue=batch.revenue[keep],
        codes=batch.codes[keep],
        flags=batch.flags[keep],
    )


def _identity(texts: Mapping[str, pa.Array]) -> pa.Array:
    """The collector's partition key (schemas.events.EventBase.partition_key) of each row:
    `v:<visitor>`, else `d:<device>`, else `c:<customer>`, else `e:<event id>`."""
    out = pc.binary_join_element_wise("e:", texts["event_id"], "")
    for prefix, name in (("c:", "customer_id"), ("d:", "device_id"), ("v:", "visitor_id")):
        values = texts[name]
        out = pc.if_else(
            pc.not_equal(values, ""), pc.binary_join_element_wise(prefix, values, ""), out
        )
    return out


def touch_names(batch: DecodedBatch) -> list[tuple[str, str, str]]:
    """The distinct (partner_id, partner_type, campaign_id) of the batch's touches, in the
    order they first appear."""
    if not batch.touch_rows:
        return []
    rows = pa.array(batch.touch_rows, pa.int64())
    columns = [batch.arrays[c].take(rows) for c in ("partner_id", "partner_type", "campaign_id")]
    codes = np.zeros(len(rows), np.int64)
    for column in columns:
        encoded = pc.dictionary_encode(column)
        codes = codes * (len(encoded.dictionary) + 1) + encoded.indices.to_numpy()
    _, first = np.unique(codes, return_index=True)
    firsts = pa.array(np.sort(first))
    return list(zip(*(c.take(firsts).to_pylist() for c in columns), strict=True))


def touches_of(batch: DecodedBatch) -> Touches:
    rows = np.asarray(batch.touch_rows, np.intp)
    clicks = batch.codes[rows] == 1
    return Touches(
        touch_id=batch.event_keys[rows],
        identity=batch.hashed("identity")[rows],
        ts_ms=batch.ts_ms[rows],
        kind=np.where(clicks, np.int8(TouchKind.CLICK), np.int8(TouchKind.IMPRESSION)),
        partner_id=batch.hashed("partner_id")[rows],
        campaign_id=batch.hashed("campaign_id")[rows],
        advertiser_id=batch.hashed("advertiser_id")[rows],
        flags=batch.flags[rows],
    )


def conversions_of(batch: DecodedBatch) -> Conversions:
    rows = np.asarray(batch.conversion_rows, np.intp)
    installs = batch.installs()[rows]
    if installs.any():
        batch.names[INSTALL_EVENT] = INSTALL
    return Conversions(
        conversion_id=batch.event_keys[rows],
        identity=batch.hashed("identity")[rows],
        ts_ms=batch.ts_ms[rows],
        advertiser_id=batch.hashed("advertiser_id")[rows],
        event_name=np.where(installs, np.int64(INSTALL_EVENT), batch.hashed("event_name")[rows]),
        order_id=batch.hashed("order_id")[rows],
        revenue=batch.revenue[rows],
        currency=batch.hashed("currency")[rows],
        click_id=batch.hashed("click_event_id")[rows],
    )

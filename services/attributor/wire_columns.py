"""Canonical events (JSON on the bus) -> Arrow columns, a whole micro-batch at a time.

Each record is parsed once with orjson; the parsed events are handed to Arrow in one call
(`pa.array(events, type=EVENT_STRUCT)`, C++), which gathers every field into typed columns
and refuses values of the wrong type. So no Python code runs per field and per event: the
`events` table is written from these columns as they are, and the engine's inputs are
numpy views of them.

A record Arrow refuses is found by halving the batch (a few conversions per bad record) and
becomes a dead letter naming the field; the other records of its batch go on.

Times: strings in the canonical form (`2026-11-23T18:03:29.172000Z`, or a `+hh:mm` offset)
are parsed by Arrow; any other form goes through `datetime.fromisoformat`, as always.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

I64 = NDArray[np.int64]
TEXT = pa.string()
TIMESTAMP = pa.timestamp("ms", tz="UTC")
_MICROS = pa.timestamp("us", tz="UTC")
CANONICAL_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"

# Text fields copied as they are into the `events` table (absent or null: "").
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
TIME_FIELDS = ("ts", "received_at", "click_ts")
CONTEXT = pa.struct(
    [
        ("source", TEXT),
        ("ip", TEXT),
        ("user_agent", TEXT),
        ("is_bot", pa.bool_()),
        ("fraud_flags", pa.list_(TEXT)),
        ("consent", pa.struct([("gdpr", pa.bool_()), ("gpc", pa.bool_())])),
    ]
)
# What the attributor reads of an event; other fields are ignored (they stay in `payload`).
EVENT_STRUCT = pa.struct(
    [
        *((name, TEXT) for name in TEXT_FIELDS),
        *((name, TEXT) for name in TIME_FIELDS),
        ("schema_version", pa.int64()),
        ("revenue", pa.int64()),
        ("amount", pa.int64()),
        ("ctit_seconds", pa.float64()),
        ("reason", TEXT),
        ("context", CONTEXT),
    ]
)
_ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)
_BLAKE2B_8 = hashlib.blake2b(digest_size=8)  # attribution.ids.hash_id's hash, nothing fed
_NO_DIGEST = bytes(8)


def struct_rows(events: Sequence[Any]) -> tuple[list[int], pa.StructArray, dict[int, str]]:
    """(indices converted, their StructArray, {index: why refused}) for parsed events.

    One Arrow conversion when every event is well typed; otherwise the batch is halved until
    the refused events are isolated (about 2·log2(n) conversions per bad event)."""
    kept: list[int] = []
    chunks: list[pa.StructArray] = []
    refused: dict[int, str] = {}
    pending = [(0, len(events))]
    while pending:
        lo, hi = pending.pop()
        if lo == hi:
            continue
        try:
            chunk = pa.array(events[lo:hi], type=EVENT_STRUCT)
        except _ARROW_ERRORS as exc:
            if hi - lo == 1:
                refused[lo] = explain(events[lo], exc)
            else:
                mid = (lo + hi) // 2
                pending += [(mid, hi), (lo, mid)]  # popped low half first: order is kept
            continue
        kept.extend(range(lo, hi))
        chunks.append(chunk)
    if not chunks:
        return [], pa.array([], type=EVENT_STRUCT), refused
    array = chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)
    return kept, array, refused


def explain(event: Any, exc: BaseException) -> str:
    """Why Arrow refused one event: the first field of the wrong type."""
    if not isinstance(event, dict):
        return "not a canonical event (no event_id or type)"
    for field in EVENT_STRUCT:
        if field.name not in event:
            continue
        try:
            pa.array([event[field.name]], type=field.type)
        except _ARROW_ERRORS as field_exc:
            if field.name in TIME_FIELDS:
                return f"{field.name}: expected an ISO-8601 time"
            if field.name in ("revenue", "amount"):
                return "revenue: expected integer minor units"
            return f"{field.name}: {field_exc}"[:500]
    return str(exc)[:500]


def text(array: pa.Array) -> pa.Array:
    """A string column with null (absent) as ""."""
    return pc.fill_null(array, "")


def iso_ms(value: Any) -> int:
    """Epoch milliseconds of an ISO-8601 string (ValueError/TypeError if it is none)."""
    if not isinstance(value, str):
        raise TypeError("expected an ISO-8601 time")
    return int(datetime.fromisoformat(value).timestamp() * 1000)


def times_ms(strings: pa.Array) -> tuple[I64, dict[int, str]]:
    """Epoch milliseconds of ISO-8601 strings; {row: error} for those that are not times.

    Canonical strings are parsed by Arrow (vectorised); the others one by one, with the
    same `datetime.fromisoformat` the attributor always used."""
    n = len(strings)
    out = np.zeros(n, np.int64)
    errors: dict[int, str] = {}
    canonical = pc.fill_null(pc.match_substring_regex(strings, CANONICAL_TIME), False)
    fast = canonical.to_numpy(zero_copy_only=False)
    slow = np.flatnonzero(~fast).tolist()
    if len(slow) < n:
        picked = strings if not slow else strings.filter(canonical)
        try:
            ms = pc.cast(pc.cast(picked, _MICROS), TIMESTAMP, safe=False)
            out[fast] = ms.cast(pa.int64()).to_numpy()
        except pa.ArrowInvalid:  # e.g. a 30th of February: let Python say what is wrong
            slow = list(range(n))
    if slow:
        values = strings.take(pa.array(slow, pa.int64())).to_pylist()
        for row, value in zip(slow, values, strict=True):
            try:
                out[row] = iso_ms(value)
            except (TypeError, ValueError) as exc:
                errors[row] = str(exc)
    return out, errors


def hash_strings(values: Sequence[str]) -> I64:
    """`attribution.ids.hash_id` of each string, as one column (inlined: the hot path)."""
    fresh = _BLAKE2B_8.copy  # copying an initialised state skips parsing its parameters
    digests: list[bytes] = []
    append = digests.append
    for v in values:
        if v:
            h = fresh()
            h.update(v.encode())
            append(h.digest())
        else:
            append(_NO_DIGEST)
    out = np.frombuffer(b"".join(digests), "<i8").astype(np.int64)
    # a digest of all zeros is reserved for "no value": hash_id maps it to 1
    for row in np.flatnonzero(out == 0).tolist():
        if values[row]:
            out[row] = 1
    return out


def hash_column(array: pa.Array, names: dict[int, str]) -> I64:
    """`hash_id` of each value of a string column, hashing each distinct value once and
    remembering `names[hash] = value` (credits are written back as strings)."""
    if len(array) == 0:
        return np.zeros(0, np.int64)
    encoded = pc.dictionary_encode(array)
    uniques = encoded.dictionary.to_pylist()
    hashes = hash_strings(uniques)
    names.update(zip(hashes.tolist(), uniques, strict=True))
    names.pop(0, None)
    indices: NDArray[np.intp] = encoded.indices.to_numpy(zero_copy_only=False)
    out: I64 = hashes[indices]
    return out


def binary_column(values: Sequence[bytes]) -> pa.Array:
    """Byte strings as one Arrow string column without a Python object per row (the
    records parsed as JSON, so they are valid UTF-8)."""
    lengths = np.fromiter(map(len, values), np.int64, len(values))
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    kind = pa.string() if offsets[-1] < 2**31 else pa.large_string()
    if kind == pa.string():
        offsets = offsets.astype(np.int32)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))]
    return pa.Array.from_buffers(kind, len(values), buffers)


def timestamps(ms: I64, valid: NDArray[np.bool_] | None = None) -> pa.Array:
    """Epoch milliseconds as a DateTime64(3, 'UTC') column (null where not `valid`)."""
    mask = None if valid is None else ~valid
    return pa.array(ms, pa.int64(), mask=mask).cast(TIMESTAMP)

"""`partnerstream attribute`: batch attribution of an event file (CSV or Parquet) to a file.

    partnerstream attribute --events events.csv --model linear --model markov --out credits.parquet

Input columns (CSV header or Parquet schema): `event_id`, `type` (impression | click | install
| conversion | reversal), `ts` (ISO-8601, naive means UTC, or epoch milliseconds),
`visitor_id`, `partner_id` (required on impressions and clicks), `revenue` (minor units; on a
reversal the amount taken back, empty for all of it), `order_id` (a reversal names the order
of its conversion); optional `event_name`, `advertiser_id`, `currency`. Rows are numbered from
1 after the header; a bad value stops the run with an error naming its row and column (exit 2).

Output: one row per credit: `conversion_id` (the conversion's event_id), `partner_id`, `role`,
`model`, `weight`, `credited_revenue`; reversals add rows with negative amounts. Markov and
Shapley are computed over the population of the file (converting paths plus the touches that
led nowhere, `attribution.population`) and split onto each conversion in proportion to the
partners' shares. The format of both files follows the extension (.csv, .parquet or .pq).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from numpy.typing import NDArray
from tqdm import tqdm

from attribution.columns import Conversions, Credits, Model, Role, Touches
from attribution.engine import attribute, concat_credits
from attribution.errors import AttributionError
from attribution.ids import INSTALL_EVENT, hash_ids
from attribution.markov import markov_attribution
from attribution.population import credits_from_shares, population_from_credits
from attribution.reversals import FULL_REVERSAL, Reversals, reverse
from attribution.shapley import shapley_attribution

MODELS = {m.name.lower(): m for m in Model}
TYPES = ("impression", "click", "install", "conversion", "reversal")
IMPRESSION, CLICK, INSTALL, CONVERSION, REVERSAL = range(5)
REQUIRED = ("event_id", "type", "ts", "visitor_id")
OPTIONAL = ("partner_id", "revenue", "order_id", "event_name", "advertiser_id", "currency")
PROGRESS_MIN_ROWS = 100_000
BATCH_ROWS = 65_536


class EventFileError(Exception):
    """The event file cannot be read: names the row and column where possible."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "attribute", help="attribute an event file (CSV/Parquet) and write the credits"
    )
    parser.add_argument("--events", type=Path, required=True, help="input .csv or .parquet")
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        choices=sorted(MODELS),
        dest="models",
        help="attribution model (repeat for several)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output .csv or .parquet")
    parser.add_argument("--markov-order", type=int, default=1, help="Markov order (default 1)")
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help=f"progress bar on stderr (auto: from {PROGRESS_MIN_ROWS} rows)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        _format_of(args.out)
        events = read_events(args.events, args.progress)
        credits = attribute_events(events, [MODELS[m] for m in args.models], args.markov_order)
        write_credits(credits, events, args.out)
    except EventFileError as exc:
        print(f"partnerstream attribute: {exc}", file=sys.stderr)
        return 2
    except AttributionError as exc:
        print(f"partnerstream attribute: {exc} ({exc.reason})", file=sys.stderr)
        return 1
    return 0


@dataclass(frozen=True, slots=True)
class Events:
    kind: NDArray[np.int8]  # index in TYPES
    event: NDArray[np.int64]
    ts_ms: NDArray[np.int64]
    identity: NDArray[np.int64]
    partner: NDArray[np.int64]
    revenue: NDArray[np.int64]  # -1 when empty
    order: NDArray[np.int64]
    event_name: NDArray[np.int64]  # 0 when empty
    advertiser: NDArray[np.int64]
    currency: NDArray[np.int64]
    event_ids: pa.Array  # the strings, for the output
    partner_ids: pa.Array


# --------------------------------------------------------------------------- reading


def read_events(path: Path, progress: str = "auto") -> Events:
    if not path.is_file():
        raise EventFileError(f"{path}: no such file")
    batches, total = _batches(path)
    if total is None and progress != "never":
        total = _count_lines(path) - 1  # minus the header
    show = progress == "always" or (progress == "auto" and (total or 0) >= PROGRESS_MIN_ROWS)
    parts: list[dict[str, Any]] = []
    first_row = 1
    with tqdm(total=total, unit="rows", file=sys.stderr, disable=not show) as bar:
        for batch in batches:
            parts.append(_parse(batch, first_row))
            first_row += batch.num_rows
            bar.update(batch.num_rows)
    if not parts:
        raise EventFileError(f"{path}: no rows")
    joined = {k: _join([p[k] for p in parts]) for k in parts[0]}
    return Events(**joined)


def _batches(path: Path) -> tuple[Iterator[pa.RecordBatch], int | None]:
    kind = _format_of(path)
    try:
        if kind == "parquet":
            file = pq.ParquetFile(path)
            return file.iter_batches(batch_size=BATCH_ROWS), file.metadata.num_rows
        strings = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in REQUIRED + OPTIONAL}, strings_can_be_null=False
        )
        reader = pacsv.open_csv(path, convert_options=strings)
        return iter(reader), None

    except (pa.ArrowInvalid, OSError) as exc:
        raise EventFileError(f"{path}: cannot read: {exc}") from None


def _count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with path.open("rb") as file:
        while chunk := file.read(1 << 22):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise EventFileError(f"{path}: unknown format {suffix!r} (use .csv, .parquet or .pq)")


def _parse(batch: pa.RecordBatch, first_row: int) -> dict[str, Any]:
    names = set(batch.schema.names)
    for column in REQUIRED:
        if column not in names:
            raise EventFileError(f"missing column {column!r}")

    def text(name: str) -> pa.Array:
        if name not in names:
            return pa.array([""] * batch.num_rows, pa.string())
        column = batch.column(name)
        return pc.fill_null(pc.utf8_trim_whitespace(column.cast(pa.string())), "")

    def fail(mask: Any, column: str, problem: str) -> None:
        bad = np.flatnonzero(np.asarray(mask, dtype=bool))
        if bad.shape[0]:
            value = text(column)[int(bad[0])].as_py() if column in names else ""
            row = first_row + int(bad[0])
            raise EventFileError(f"row {row}, column {column!r}: {problem}: {value!r}")

    kind = pc.index_in(pc.utf8_lower(text("type")), value_set=pa.array(TYPES))
    fail(pc.is_null(kind), "type", f"not one of {', '.join(TYPES)}")
    kind_np = np.asarray(kind.to_numpy(zero_copy_only=False), dtype=np.int8)
    event_id = text("event_id")
    fail(pc.equal(event_id, ""), "event_id", "empty")
    fail(pc.equal(text("visitor_id"), ""), "visitor_id", "empty")
    partner = text("partner_id")
    touch = kind_np <= CLICK
    fail(touch & np.asarray(pc.equal(partner, "")), "partner_id", "a touch needs a partner")
    revenue, no_revenue = _integers(text("revenue"), first_row, "revenue")
    fail((revenue < 0) & ~no_revenue, "revenue", "negative")
    revenue[no_revenue] = -1
    reversal = kind_np == REVERSAL
    fail(
        reversal & np.asarray(pc.equal(text("order_id"), "")),
        "order_id",
        "a reversal names an order",
    )
    return {
        "kind": kind_np,
        "event": hash_ids(event_id.to_pylist()),
        "ts_ms": _instants(batch.column("ts"), first_row),
        "identity": hash_ids(text("visitor_id").to_pylist()),
        "partner": hash_ids(partner.to_pylist()),
        "revenue": revenue,
        "order": hash_ids(text("order_id").to_pylist()),
        "event_name": hash_ids(text("event_name").to_pylist()),
        "advertiser": hash_ids(text("advertiser_id").to_pylist()),
        "currency": hash_ids(text("currency").to_pylist()),
        "event_ids": event_id,
        "partner_ids": partner,
    }


def _integers(
    values: pa.Array, first_row: int, column: str
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Cells as int64 (empty ones as 0) and which cells were empty."""
    empty = np.asarray(pc.equal(values, ""), dtype=bool)
    filled = pc.if_else(pc.equal(values, ""), "0", values)
    try:
        return np.array(pc.cast(filled, pa.int64()), dtype=np.int64), empty
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for i, value in enumerate(filled.to_pylist()):
            if not empty[i] and not str(value).lstrip("-").isdigit():
                raise EventFileError(
                    f"row {first_row + i}, column {column!r}: not an integer: {value!r}"
                ) from None
        raise


def _instants(column: pa.Array, first_row: int) -> NDArray[np.int64]:
    """Epoch milliseconds from timestamps, integers, or strings (ISO-8601 or digits)."""
    if pa.types.is_timestamp(column.type):
        stamps = column.cast(pa.timestamp("ms", tz=column.type.tz))
        return np.asarray(stamps.cast(pa.int64()).fill_null(0), dtype=np.int64)
    if pa.types.is_integer(column.type):
        return np.asarray(column.cast(pa.int64()).fill_null(0), dtype=np.int64)
    values = pc.fill_null(pc.utf8_trim_whitespace(column.cast(pa.string())), "")
    digits = np.asarray(pc.match_substring_regex(values, r"^-?\d+$"), dtype=bool)
    zoned = np.asarray(pc.match_substring_regex(values, r"(Z|z|[+-]\d\d:?\d\d)$"), dtype=bool)
    out = np.zeros(len(values), np.int64)
    strings = values.to_numpy(zero_copy_only=False)
    groups = (
        (digits, pa.int64()),
        (~digits & zoned, pa.timestamp("ms", tz="UTC")),
        (~digits & ~zoned, pa.timestamp("ms")),
    )
    for mask, target in groups:
        if not mask.any():
            continue
        part = pa.array(strings[mask], pa.string())
        try:
            parsed = pc.cast(part, target).cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            for i in np.flatnonzero(mask):
                try:
                    pc.cast(pa.array([strings[i]], pa.string()), target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise EventFileError(
                        f"row {first_row + int(i)}, column 'ts': not an ISO-8601 time or "
                        f"epoch milliseconds: {strings[i]!r}"
                    ) from None
            raise
        out[mask] = np.asarray(parsed, dtype=np.int64)
    return out


def _join(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return pa.concat_arrays(parts)


# ------------------------------------------------------------------------ attribution


def attribute_events(events: Events, models: list[Model], markov_order: int = 1) -> Credits:
    """Credits of every requested model, then the reversal credits."""
    touch = np.flatnonzero(events.kind <= CLICK)
    touches = Touches(
        touch_id=events.event[touch],
        identity=events.identity[touch],
        ts_ms=events.ts_ms[touch],
        kind=events.kind[touch].astype(np.int8),  # TouchKind: IMPRESSION 0, CLICK 1
        partner_id=events.partner[touch],
        campaign_id=np.zeros(touch.shape[0], np.int64),
        advertiser_id=events.advertiser[touch],
        flags=np.zeros(touch.shape[0], np.uint8),
    )
    conv = np.flatnonzero((events.kind == INSTALL) | (events.kind == CONVERSION))
    default_name = hash_ids(["conversion"])[0]
    name = np.where(events.event_name[conv] != 0, events.event_name[conv], default_name)
    conversions = Conversions(
        conversion_id=events.event[conv],
        identity=events.identity[conv],
        ts_ms=events.ts_ms[conv],
        advertiser_id=events.advertiser[conv],
        event_name=np.where(events.kind[conv] == INSTALL, INSTALL_EVENT, name),
        order_id=events.order[conv],
        revenue=np.maximum(events.revenue[conv], 0),
        currency=events.currency[conv],
    )
    population_models = {Model.MARKOV, Model.SHAPLEY}
    heuristic = [m for m in dict.fromkeys(models) if m not in population_models]
    wanted = set(models)
    if wanted & population_models and Model.LINEAR not in heuristic:
        heuristic.append(Model.LINEAR)
    credits = attribute(touches, conversions, models=heuristic)
    parts = [credits.take(np.flatnonzero(np.isin(credits.model, [int(m) for m in wanted])))]
    if wanted & population_models:
        population = population_from_credits(credits, touches)
        if Model.MARKOV in wanted:
            result = markov_attribution(population.paths, order=markov_order)
            parts.append(
                credits_from_shares(
                    credits, population, result.partner_ids, result.share, Model.MARKOV
                )
            )
        if Model.SHAPLEY in wanted:
            sh = shapley_attribution(population.paths)
            parts.append(
                credits_from_shares(credits, population, sh.partner_ids, sh.share, Model.SHAPLEY)
            )
    out = concat_credits(parts)
    reversals = _reversals(events, conversions)
    if len(reversals.conversion_id):
        out = concat_credits([out, reverse(out, reversals)])
    return out


def _reversals(events: Events, conversions: Conversions) -> Reversals:
    rows = np.flatnonzero(events.kind == REVERSAL)
    with_order = np.flatnonzero(conversions.order_id != 0)
    # Earliest conversion of each order.
    order = with_order[
        np.lexsort((conversions.ts_ms[with_order], conversions.order_id[with_order]))
    ]
    keys = conversions.order_id[order]
    first = np.ones(keys.shape[0], dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys, order = keys[first], order[first]
    at = np.minimum(np.searchsorted(keys, events.order[rows]), max(keys.shape[0] - 1, 0))
    found = keys[at] == events.order[rows] if keys.shape[0] else np.zeros(rows.shape[0], bool)
    if not found.all():
        row = int(rows[np.flatnonzero(~found)[0]])
        raise EventFileError(f"row {row + 1}, column 'order_id': no conversion has this order")
    amount = events.revenue[rows]
    return Reversals(
        conversion_id=conversions.conversion_id[order[at]],
        amount=np.where(amount > 0, amount, FULL_REVERSAL).astype(np.int64),
    )


# --------------------------------------------------------------------------- writing


def write_credits(credits: Credits, events: Events, path: Path) -> None:
    table = pa.table(
        {
            "conversion_id": _names(credits.conversion_id, events.event, events.event_ids),
            "partner_id": _names(credits.partner_id, events.partner, events.partner_ids),
            "role": pa.array([Role(r).name.lower() for r in credits.role.tolist()], pa.string()),
            "model": pa.array([Model(m).name.lower() for m in credits.model.tolist()], pa.string()),
            "weight": pa.array(credits.weight, pa.float64()),
            "credited_revenue": pa.array(credits.credited_revenue, pa.int64()),
        }
    )
    if _format_of(path) == "parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)


def _names(hashes: NDArray[np.int64], all_hashes: NDArray[np.int64], strings: pa.Array) -> pa.Array:
    """The original strings of hashed ids (from the first input row with that hash)."""
    known, first = np.unique(all_hashes, return_index=True)
    at = np.minimum(np.searchsorted(known, hashes), known.shape[0] - 1)
    return strings.take(pa.array(first[at]))

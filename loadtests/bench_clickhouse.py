"""B5 ClickHouse: rows/s of the attributor's sink inserting realistic event rows into chDB.

The rows are the canonical events of simulated journeys (`services.simulation.journeys`),
encoded as the collector publishes them, decoded by `services.attributor.decode` and laid
out by `services.attributor.rows.event_columns`, then written with `ClickHouseSink.write`
(one Arrow insert per batch, with its deduplication token) into a migrated embedded store.
The decode is timed apart. One process, pinned to core 0 (chDB opens one store per process).

    python -m loadtests.bench_clickhouse --rows 200000 --batch 20000 --rounds 3 --dir /tmp/b5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import orjson

from loadtests.processes import PYTHON, SERVER_CORE, run_json
from loadtests.records import Result, Section
from loadtests.run_context import RunContext
from services.attributor.decode import decode_records
from services.attributor.rows import event_columns
from services.attributor.sink import ClickHouseSink
from services.bus.records import Record
from services.collector.publisher import encode_event
from services.simulation.journeys import canonical_events, plan_journeys
from services.store.clickhouse import connect
from services.store.migrations import migrate

TOPIC = "events.v1"
START_MS = 1_795_428_000_000


def bus_records(count: int, seed: int = 1) -> list[Record]:
    """`count` records as the attributor reads them: canonical events, 8 partitions."""
    out: list[Record] = []
    journeys = plan_journeys(count // 2 + 1, seed, 86_400.0)
    for offset, event in enumerate(canonical_events(journeys, START_MS, seed)):
        key, value = encode_event(event)
        out.append(Record(TOPIC, offset % 8, offset, key, value, START_MS))
        if len(out) == count:
            break
    return out


def measure(rows: int, batch: int, rounds: int, directory: Path) -> list[dict[str, float]]:
    client = connect(f"chdb://{directory / 'clickhouse'}", "bench")
    migrate(client)
    sink = ClickHouseSink(client)
    records = bus_records(rows)
    results = []
    for round_no in range(rounds):
        decode_s = write_s = 0.0
        for start in range(0, len(records), batch):
            began = time.perf_counter()
            decoded = decode_records(records[start : start + batch])
            columns = event_columns(decoded, np.arange(decoded.size))
            decoded_at = time.perf_counter()
            sink.write("events", columns, f"bench|{round_no}|{start}")
            write_s += time.perf_counter() - decoded_at
            decode_s += decoded_at - began
        results.append(
            {"rows_per_s": len(records) / write_s, "decode_rows_per_s": len(records) / decode_s}
        )
    stored = client.query("SELECT count() FROM events").result_rows[0][0]
    if stored != rows * rounds:
        raise RuntimeError(f"expected {rows * rounds} rows in events, found {stored}")
    return results


def run(ctx: RunContext) -> tuple[Section, list[Result]]:
    section = Section("B5", "ClickHouse inserts by the attributor's sink")
    sizes = ctx.sizes
    argv = [
        PYTHON,
        "-m",
        "loadtests.bench_clickhouse",
        "--rows",
        str(sizes.clickhouse_rows),
        "--batch",
        str(sizes.clickhouse_batch),
        "--rounds",
        str(sizes.rounds),
        "--dir",
        str(ctx.dir("b5")),
    ]
    out, command = run_json(argv, core=SERVER_CORE, timeout_s=1800)
    rounds = orjson.loads(out)
    section.results += [
        Result(
            f"ClickHouseSink.write into chDB, {sizes.clickhouse_batch:,}-row batches",
            "rows/s",
            tuple(r["rows_per_s"] for r in rounds),
            detail="events table, Arrow insert with a deduplication token",
        ),
        Result(
            "decode_records + event_columns (the attributor's decode, for scale)",
            "rows/s",
            tuple(r["decode_rows_per_s"] for r in rounds),
        ),
    ]
    section.notes.append(
        f"{sizes.clickhouse_rows:,} rows per round from the simulated journeys' canonical "
        f"events; every round's rows are counted back from the table"
    )
    section.commands.append(command.replace(str(ctx.workdir), "$WORK"))
    return section, []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B5: sink inserts into chDB")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    sys.stdout.write(orjson.dumps(measure(args.rows, args.batch, args.rounds, args.dir)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

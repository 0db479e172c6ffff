"""`partnerstream sql "SELECT ..."`: run a query against the service's ClickHouse."""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from services.settings import StoreSettings, load
from services.store.clickhouse import connect


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sql", help="run a SQL query against the embedded store or a ClickHouse server"
    )
    parser.add_argument("query", help="the SQL to run")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data-dir", type=Path, help="embedded store under DIR/clickhouse")
    where.add_argument("--url", help="ClickHouse URL (chdb:///path or http(s)://...)")
    parser.add_argument("--database", help="database (default: partnerstream)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load(StoreSettings)
    if args.url:
        url = args.url
    elif args.data_dir:
        url = f"chdb://{args.data_dir / 'clickhouse'}"
    else:
        url = settings.resolved_clickhouse_url()
    client = connect(url, args.database or settings.clickhouse_database)
    result = client.query(args.query)
    names = list(result.column_names)
    rows = result.result_rows
    write_rows(names, rows, args.format)
    return 0


def write_rows(names: list[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    out = sys.stdout
    if fmt == "json":
        for row in rows:
            out.write(orjson.dumps(dict(zip(names, row, strict=True)), default=str).decode() + "\n")
    elif fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(names)
        writer.writerows(rows)
    else:
        cells = [[str(v) for v in row] for row in rows]
        widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
        out.write("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)) + "\n")
        out.write("  ".join("-" * w for w in widths) + "\n")
        for r in cells:
            out.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + "\n")
        out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")

"""`partnerstream migrate`: apply the ClickHouse migrations to CLICKHOUSE_URL."""

from __future__ import annotations

import argparse
from typing import Any

from services.settings import StoreSettings, load
from services.store.clickhouse import connect, redact
from services.store.migrations import migrate


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "migrate", help="apply ClickHouse migrations (idempotent)"
    )
    parser.add_argument(
        "--url", help="ClickHouse URL (default: CLICKHOUSE_URL or the embedded store)"
    )
    parser.add_argument("--database", help="database name (default: partnerstream)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load(StoreSettings)
    url = args.url or settings.resolved_clickhouse_url()
    client = connect(url, args.database or settings.clickhouse_database)
    done = migrate(client)
    names = ", ".join(f"{m.version:03d}_{m.name}" for m in done) or "nothing to apply"
    print(f"migrated {redact(url)} database {client.database}: {names}")
    return 0

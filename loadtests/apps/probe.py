"""The attributor (Kafka mode) or the whole embedded pipeline, exactly as `partnerstream serve
attributor` / `partnerstream run` build them, plus two read-only routes for the benchmarks:

- `GET /bench/credits?ids=o1,o2` -> `{"found": {order_id: attributed_at_ms}}`, from the
  store the process holds (an embedded chDB store cannot be opened by a second process);
- `GET /bench/attributor` -> events written, dropped as duplicates or undecodable, retained
  touches, resident memory (the load generator derives the consumer lag from them).

    python -m loadtests.apps.probe embedded --port 8000 --data-dir /tmp/ps
    python -m loadtests.apps.probe attributor --port 8001      # settings from the environment
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Query

from services.deployables import build_attributor_app
from services.embedded import build_embedded_app
from services.logs import configure_logging
from services.settings import AttributorSettings, EmbeddedSettings, StoreSettings, load
from services.store.clickhouse import connect

CREDITS = (
    "SELECT order_id, toUnixTimestamp64Milli(min(attributed_at)) FROM attribution_credits "
    "WHERE order_id IN {ids:Array(String)} AND NOT is_reversal GROUP BY order_id"
)


def _sample(registry: Any, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return float(value) if value is not None else 0.0


def _rss_bytes() -> int:
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def probe_router(app: FastAPI, settings: StoreSettings) -> APIRouter:
    router = APIRouter(prefix="/bench", include_in_schema=False)
    client = connect(settings.resolved_clickhouse_url(), settings.clickhouse_database)

    def found(ids: list[str]) -> dict[str, int]:
        rows = client.query(CREDITS, parameters={"ids": ids}).result_rows
        return {str(order): int(ms) for order, ms in rows}

    @router.get("/credits")
    async def credits(ids: str = Query("")) -> dict[str, dict[str, int]]:
        wanted = [i for i in ids.split(",") if i]
        return {"found": await asyncio.to_thread(found, wanted) if wanted else {}}

    @router.get("/attributor")
    async def attributor() -> dict[str, Any]:
        registry = app.state.attributor.metrics.registry
        store_calls = getattr(app.state.attributor.sink, "client_cpu_seconds", None)
        return {
            # for the drain's CPU split (bench_e2e.drain_rate): which threads are Python's,
            # and the CPU they spent inside the ClickHouse client's calls (embedded chDB work)
            "python_threads": [t.native_id for t in threading.enumerate()],
            "store_call_cpu_s": store_calls() if store_calls is not None else 0.0,
            "rows_events": _sample(
                registry, "partnerstream_rows_written_total", {"table": "events"}
            ),
            "rows_credits": _sample(
                registry, "partnerstream_rows_written_total", {"table": "attribution_credits"}
            ),
            "duplicates": _sample(registry, "partnerstream_duplicate_events_total"),
            "undecodable": _sample(registry, "partnerstream_attributor_dead_letters_total"),
            "batches": _sample(registry, "partnerstream_attributor_batches_total"),
            "retained_touches": _sample(registry, "partnerstream_retained_touches"),
            "rss_bytes": float(_rss_bytes()),
        }

    return router


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("embedded", "attributor"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path("./data"))
    args = parser.parse_args(argv)
    settings: StoreSettings
    if args.mode == "embedded":
        embedded = load(
            EmbeddedSettings,
            host=args.host,
            port=args.port,
            data_dir=args.data_dir,
            kafka_bootstrap_servers="",
        )
        configure_logging(embedded.log_level)
        app, settings = build_embedded_app(embedded), embedded
    else:
        attributor = load(AttributorSettings)
        configure_logging(attributor.log_level)
        app, settings = build_attributor_app(attributor), attributor
    app.include_router(probe_router(app, settings))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

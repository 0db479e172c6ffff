"""Embedded mode (`partnerstream run`): collector, attributor and reports in one process,
on the local durable bus and the embedded chDB store, through the same code paths as the
Kafka mode (only the bus implementation differs)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from attribution.contracts import load_contracts
from services.attributor.factory import build_attributor
from services.attributor.metrics import AttributorMetrics
from services.attributor.sink import ClickHouseSink
from services.bus.local_bus import LocalBus
from services.buses import consumer_for, local_log
from services.clock import Clock, SystemClock
from services.collector.app import create_app
from services.collector.metrics import CollectorMetrics
from services.dashboard import build_dashboard_router
from services.logs import configure_logging
from services.reports import build_reports_router
from services.runtime import freeze_startup_heap
from services.settings import EmbeddedSettings, load
from services.store.clickhouse import connect
from services.store.migrations import migrate
from tracker.registry import load_registry

log = logging.getLogger("partnerstream")
CONSUMER_GROUP = "partnerstream-attributor"


def build_embedded_app(settings: EmbeddedSettings, clock: Clock | None = None) -> FastAPI:
    """The one-process app: its lifespan opens the bus and runs the attributor beside the
    HTTP server, and on shutdown stops taking events, lets the attributor finish its batch
    and commit, then closes the bus."""
    clock = clock or SystemClock()
    registry = load_registry(settings.registry_path)
    client = connect(settings.resolved_clickhouse_url(), settings.clickhouse_database)
    migrate(client)
    log_store = local_log(settings)
    bus = LocalBus(log_store)
    consumer = consumer_for(
        settings, [settings.events_topic, settings.dlq_topic], CONSUMER_GROUP, log=log_store
    )
    metrics_registry = CollectorRegistry()  # one /metrics for both halves of the process
    attributor_metrics = AttributorMetrics(registry=metrics_registry)
    attributor = build_attributor(
        settings,
        consumer,
        ClickHouseSink(client),
        clock,
        metrics=attributor_metrics,
        partner_types={p.id: p.partner_type for p in registry.partners.values()},
        contracts=load_contracts(registry.contracts),
        dlq_producer=bus,
    )
    app = create_app(
        settings,
        registry=registry,
        producer=bus,
        clock=clock,
        manage_producer=False,
        metrics=CollectorMetrics(registry=metrics_registry),
    )
    app.include_router(
        build_reports_router(client, registry, clock, engine=attributor.config.engine)
    )
    app.include_router(build_dashboard_router())
    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        await bus.start()
        task = asyncio.create_task(attributor.run(), name="attributor")
        try:
            async with inner_lifespan(app) as state:
                yield state
        finally:
            attributor.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=30)
            await bus.stop()

    app.router.lifespan_context = lifespan
    app.state.attributor = attributor
    app.state.clickhouse = client
    return app


def serve_embedded(host: str, port: int, data_dir: Path) -> int:
    settings = load(
        EmbeddedSettings, host=host, port=port, data_dir=data_dir, kafka_bootstrap_servers=""
    )
    configure_logging(settings.log_level)
    app = build_embedded_app(settings)
    log.info("serving", extra={"url": f"http://{host}:{port}", "data_dir": str(data_dir)})
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0

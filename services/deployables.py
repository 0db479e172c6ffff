"""The collector and the attributor as separate processes (Kafka mode, or the local bus).

The attributor process serves `/healthz` and `/metrics` on its own port (default 8001);
when it owns an embedded chDB store it is the process that may open it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from attribution.contracts import load_contracts
from services.attributor.factory import build_attributor
from services.attributor.metrics import AttributorMetrics
from services.attributor.sink import ClickHouseSink
from services.bus.kafka_bus import KafkaProducerBus
from services.bus.spool import SpoolingProducer
from services.buses import consumer_for, prepare_topics, producer_for
from services.clock import SystemClock
from services.collector.app import create_app
from services.collector.metrics import CollectorMetrics
from services.dashboard import build_dashboard_router
from services.logs import configure_logging
from services.reports import build_reports_router
from services.runtime import freeze_startup_heap
from services.settings import AttributorSettings, CollectorSettings, load
from services.store.clickhouse import connect
from services.store.migrations import migrate
from tracker.registry import load_registry

log = logging.getLogger("partnerstream")


def build_collector_app(settings: CollectorSettings) -> FastAPI:
    registry = load_registry(settings.registry_path)
    producer = producer_for(settings, "partnerstream-collector")
    metrics = CollectorMetrics()

    async def readiness() -> tuple[bool, str]:
        if isinstance(producer, SpoolingProducer):
            return True, "spooling to disk" if producer.spooling else "kafka"
        return True, "local bus"

    if isinstance(producer, SpoolingProducer):
        metrics.watch_spool(producer.depth)
    app = create_app(
        settings, registry=registry, producer=producer, metrics=metrics, readiness=readiness
    )
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        with contextlib.suppress(Exception):  # topics may be auto-created; a down broker spools
            await asyncio.wait_for(prepare_topics(settings), timeout=10)
        async with inner(app) as state:
            yield state

    app.router.lifespan_context = lifespan
    return app


def serve_collector(host: str | None, port: int | None) -> int:
    settings = load(CollectorSettings)
    configure_logging(settings.log_level)
    app = build_collector_app(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0


def build_attributor_app(settings: AttributorSettings) -> FastAPI:
    client = connect(settings.resolved_clickhouse_url(), settings.clickhouse_database)
    migrate(client)
    consumer = consumer_for(
        settings, [settings.events_topic, settings.dlq_topic], settings.consumer_group
    )
    metrics = AttributorMetrics()
    registry = load_registry(settings.registry_path)
    dlq_producer = (
        KafkaProducerBus(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            client_id="partnerstream-attributor",
        )
        if settings.uses_kafka
        else None
    )
    attributor = build_attributor(
        settings,
        consumer,
        ClickHouseSink(client),
        SystemClock(),
        metrics=metrics,
        partner_types={p.id: p.partner_type for p in registry.partners.values()},
        contracts=load_contracts(registry.contracts),
        dlq_producer=dlq_producer,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(prepare_topics(settings), timeout=10)
        if dlq_producer is not None:
            with contextlib.suppress(Exception):  # a down broker: refused records are stored anyway
                await dlq_producer.start()
        task = asyncio.create_task(attributor.run(), name="attributor")
        try:
            yield
        finally:
            attributor.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=30)
            if dlq_producer is not None:
                await dlq_producer.stop()

    app = FastAPI(title="partnerstream attributor", lifespan=lifespan)
    app.include_router(
        build_reports_router(client, registry, SystemClock(), engine=attributor.config.engine)
    )
    app.include_router(build_dashboard_router())

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.state.attributor = attributor
    app.state.clickhouse = client
    return app


def serve_attributor(host: str | None, port: int | None) -> int:
    settings = load(AttributorSettings)
    configure_logging(settings.log_level)
    app = build_attributor_app(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=host or "127.0.0.1",
        port=port or 8001,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0

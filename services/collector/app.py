"""The collector's FastAPI application, built by `create_app` with its dependencies passed in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.bus.protocols import EventProducer
from services.clock import Clock, SystemClock
from services.collector.deps import CollectorDeps
from services.collector.fast_paths import CollectorApp, TrackingFastPaths
from services.collector.http_errors import install_error_handlers
from services.collector.intake import Intake
from services.collector.metrics import CollectorMetrics
from services.collector.publisher import Publisher
from services.collector.routes import apple, conversions, links, ops, pixel, postbacks, sdk
from services.collector.routes.ops import Readiness
from services.settings import CollectorSettings
from tracker.click_ids import SecretRing
from tracker.enrich import EnrichConfig
from tracker.network import IpMode
from tracker.rate_limits import RateLimiter
from tracker.registry import Registry

DESCRIPTION = """
Tracking links, pixels, SDK batches and server-to-server postbacks for partnership programs.
Every accepted event is durable (Kafka-acknowledged or fsync'd to the spool) before a 2xx;
every refused one is recorded as a dead letter with its reason.
"""


class RequestMetrics:
    """Pure-ASGI middleware counting requests by route template and status."""

    def __init__(self, app: ASGIApp, metrics: CollectorMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.count_request(path, status)


def build_deps(
    settings: CollectorSettings,
    registry: Registry,
    producer: EventProducer,
    clock: Clock,
    metrics: CollectorMetrics,
) -> CollectorDeps:
    secrets = SecretRing.parse(settings.click_secrets.get_secret_value())
    publisher = Publisher(
        producer,
        events_topic=settings.events_topic,
        dlq_topic=settings.dlq_topic,
        metrics=metrics,
    )
    enrich_config = EnrichConfig(
        click_secrets=secrets,
        click_max_age_ms=settings.click_id_max_age_days * 86_400_000,
        ip_mode=IpMode(settings.ip_anonymization),
        partner_types={p.id: p.partner_type for p in registry.partners.values()},
    )
    intake = Intake(publisher, enrich_config, clock, max_event_bytes=settings.max_event_bytes)
    return CollectorDeps(
        settings=settings,
        registry=registry,
        intake=intake,
        clock=clock,
        metrics=metrics,
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        click_secrets=secrets,
    )


async def _always_ready() -> tuple[bool, str]:
    return True, "ok"


def create_app(
    settings: CollectorSettings,
    *,
    registry: Registry,
    producer: EventProducer,
    clock: Clock | None = None,
    metrics: CollectorMetrics | None = None,
    readiness: Readiness | None = None,
    manage_producer: bool = True,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The collector app. With `manage_producer`, the lifespan starts and stops `producer`
    (stopping flushes it); otherwise its owner does (embedded mode shares one bus)."""
    metrics = metrics or CollectorMetrics()
    deps = build_deps(settings, registry, producer, clock or SystemClock(), metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        if manage_producer:
            await producer.start()
        try:
            yield {}
        finally:
            if manage_producer:
                await producer.stop()

    app = CollectorApp(
        title="partnerstream collector",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    app.state.deps = deps
    postback_door = postbacks.PostbackDoor(deps)
    app.fast_paths = TrackingFastPaths(deps, postback_door) if settings.fast_paths else None
    install_error_handlers(app)
    app.include_router(ops.build_router(metrics, readiness or _always_ready))
    app.include_router(links.build_router(deps))
    app.include_router(pixel.build_router(deps))
    app.include_router(sdk.build_router(deps))
    app.include_router(postbacks.build_router(deps, postback_door))
    app.include_router(conversions.build_router(deps))
    app.include_router(apple.build_router(deps))
    for router in extra_routers:
        app.include_router(router)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app

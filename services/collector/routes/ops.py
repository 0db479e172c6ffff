"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from services.collector.metrics import CollectorMetrics

Readiness = Callable[[], Awaitable[tuple[bool, str]]]


def build_router(metrics: CollectorMetrics, readiness: Readiness) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Alive: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Ready: events can be made durable (Kafka or the spool)")
    async def readyz() -> Response:
        ready, detail = await readiness()
        return JSONResponse({"ready": ready, "detail": detail}, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router

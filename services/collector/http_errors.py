"""The one place where errors become HTTP answers: `{"error": reason, "detail": message}`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from services.bus.errors import BusError
from tracker.errors import RateLimited, TrackerError

log = logging.getLogger("partnerstream.collector")


def error_response(status_code: int, reason: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": reason, "detail": detail}, status_code=status_code)


def tracker_error_response(exc: TrackerError) -> JSONResponse:
    response = error_response(exc.status_code, exc.reason, exc.message)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    return response


def bus_error_response(exc: BusError, path: str) -> JSONResponse:
    log.error("bus_error", extra={"reason": exc.reason, "path": path})
    response = error_response(503, exc.reason, "events could not be made durable; retry")
    response.headers["Retry-After"] = "1"
    return response


def install_error_handlers(app: FastAPI) -> None:
    async def on_tracker_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TrackerError)
        return tracker_error_response(exc)

    async def on_bus_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BusError)
        return bus_error_response(exc, request.url.path)

    app.add_exception_handler(TrackerError, on_tracker_error)
    app.add_exception_handler(BusError, on_bus_error)

"""The tracking hot paths, served in front of FastAPI.

A click, an impression and a conversion pixel are the requests a collector sees most, and
FastAPI's per-request machinery (telemetry check, route matching over every route,
dependency solving, parameter validation, five middlewares) costs several times what the
tracking work itself does. ``CollectorApp`` (the collector's FastAPI app) hands ``GET`` on
``/c/{partner}/{campaign}``, ``/i/{partner}/{campaign}`` and ``/p.gif`` to
``TrackingFastPaths`` before any of that: the same handlers the documented FastAPI routes
call (``routes.links``, ``routes.pixel``), with the same parameter limits, error answers and
request metrics. Everything else goes through FastAPI unchanged. These three paths are not
traced by FastAPI's native OpenTelemetry support; their metrics are on ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.bus.errors import BusError
from services.collector.deps import CollectorDeps
from services.collector.http_errors import (
    bus_error_response,
    error_response,
    tracker_error_response,
)
from services.collector.lean_request import LeanRequest, RequestView
from services.collector.routes.links import (
    SUB_MAX_LENGTH,
    URL_MAX_LENGTH,
    Subs,
    handle_click,
    handle_impression,
)
from services.collector.routes.pixel import handle_conversion_pixel
from tracker.errors import TrackerError

log = logging.getLogger("partnerstream.collector")

CLICK_ROUTE = "/c/{partner_id}/{campaign_id}"
IMPRESSION_ROUTE = "/i/{partner_id}/{campaign_id}"
PIXEL_ROUTE = "/p.gif"
SUB_NAMES = ("sub1", "sub2", "sub3", "sub4", "sub5")
Handler = Callable[[RequestView], Awaitable[Response]]


class ParameterTooLong(Exception):
    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"query parameter {name!r} is longer than {limit} characters")


def _param(request: RequestView, name: str, limit: int) -> str | None:
    value = request.query_params.get(name)
    if value is not None and len(value) > limit:
        raise ParameterTooLong(name, limit)
    return value


def _subs(request: RequestView) -> Subs:
    if not request.scope["query_string"]:
        return (None, None, None, None, None)
    a, b, c, d, e = (_param(request, name, SUB_MAX_LENGTH) for name in SUB_NAMES)
    return (a, b, c, d, e)


def _two_segments(path: str, prefix_length: int) -> tuple[str, str] | None:
    """``/c/<a>/<b>`` -> (a, b); None unless exactly two non-empty segments follow."""
    partner, slash, campaign = path[prefix_length:].partition("/")
    if not slash or not partner or not campaign or "/" in campaign:
        return None
    return partner, campaign


class TrackingFastPaths:
    """Matches and serves the click, impression and conversion-pixel requests."""

    def __init__(self, deps: CollectorDeps) -> None:
        self.deps = deps
        self._requests = deps.metrics.requests

    def route(self, path: str) -> tuple[str, Handler] | None:
        """(route template, handler) for a path served here, else None."""
        deps = self.deps
        if path == PIXEL_ROUTE:
            return PIXEL_ROUTE, lambda request: handle_conversion_pixel(deps, request)
        if path.startswith("/c/"):
            ids = _two_segments(path, 3)
            if ids is not None:
                partner, campaign = ids

                async def click(request: RequestView) -> Response:
                    url = _param(request, "url", URL_MAX_LENGTH)
                    return await handle_click(deps, request, partner, campaign, url, _subs(request))

                return CLICK_ROUTE, click
        if path.startswith("/i/"):
            ids = _two_segments(path, 3)
            if ids is not None:
                partner, campaign = ids

                async def impression(request: RequestView) -> Response:
                    return await handle_impression(deps, request, partner, campaign, _subs(request))

                return IMPRESSION_ROUTE, impression
        return None

    async def serve(
        self, template: str, handler: Handler, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = LeanRequest(scope)
        try:
            response = await handler(request)
        except TrackerError as exc:
            response = tracker_error_response(exc)
        except BusError as exc:
            response = bus_error_response(exc, template)
        except ParameterTooLong as exc:
            response = error_response(422, "invalid_parameter", str(exc))
        except Exception:
            log.exception("unhandled error", extra={"path": template})
            response = error_response(500, "internal_error", "internal server error")
        await response(scope, receive, send)
        self._requests.labels(template, str(response.status_code)).inc()


class CollectorApp(FastAPI):
    """The collector's FastAPI app; ``fast_paths`` (when set) serves its hot paths first."""

    fast_paths: TrackingFastPaths | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_paths
        if fast is not None and scope["type"] == "http" and scope["method"] == "GET":
            routed = fast.route(scope["path"])
            if routed is not None:
                scope["app"] = self
                await fast.serve(*routed, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

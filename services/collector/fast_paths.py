"""The tracking hot paths, served in front of FastAPI.

A click, an impression, a conversion pixel, an SDK batch and an MMP postback are the
requests a collector sees most, and FastAPI's per-request machinery (telemetry check, route
matching over every route, dependency solving, parameter validation, five middlewares) costs
several times what the tracking work itself does. ``CollectorApp`` (the collector's FastAPI
app) hands ``GET`` on ``/c/{partner}/{campaign}``, ``/i/{partner}/{campaign}`` and
``/p.gif``, ``POST`` on ``/v1/events``, and both on ``/v1/postback/{source}``, to
``TrackingFastPaths`` before any of that: the same handlers the documented FastAPI routes
call (``routes.links``, ``routes.pixel``, ``routes.sdk``, ``routes.postbacks``), with
the same parameter and body limits, error answers and request metrics. Everything else
(``OPTIONS /v1/events`` preflights included) goes through FastAPI unchanged. These paths are
not traced by FastAPI's native OpenTelemetry support; their metrics are on ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import ClientDisconnect
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
    SUB_NAMES,
    URL_MAX_LENGTH,
    Subs,
    handle_click,
    handle_impression,
)
from services.collector.routes.pixel import handle_conversion_pixel
from services.collector.routes.postbacks import PostbackDoor
from services.collector.routes.sdk import handle_sdk_batch, receive_body
from tracker.errors import TrackerError

log = logging.getLogger("partnerstream.collector")

CLICK_ROUTE = "/c/{partner_id}/{campaign_id}"
IMPRESSION_ROUTE = "/i/{partner_id}/{campaign_id}"
PIXEL_ROUTE = "/p.gif"
SDK_ROUTE = "/v1/events"
POSTBACK_PREFIX = "/v1/postback/"
POSTBACK_ROUTE = "/v1/postback/{source}"
Handler = Callable[[RequestView, Receive], Awaitable[Response]]


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

    def __init__(self, deps: CollectorDeps, postbacks: PostbackDoor) -> None:
        self.deps = deps
        self.postbacks = postbacks
        self._count_request = deps.metrics.count_request

    def route(self, method: str, path: str) -> tuple[str, Handler] | None:
        """(route template, handler) for a request served here, else None."""
        deps = self.deps
        if path.startswith(POSTBACK_PREFIX) and method in ("GET", "POST"):
            source = path[len(POSTBACK_PREFIX) :]
            if not source or "/" in source:
                return None

            async def postback(request: RequestView, receive: Receive) -> Response:
                async def read(limit: int) -> bytes:
                    return await receive_body(request, receive, limit)

                return await self.postbacks.handle(request, source, read)

            return POSTBACK_ROUTE, postback
        if method == "POST":
            return (SDK_ROUTE, self._sdk_batch) if path == SDK_ROUTE else None
        if method != "GET":
            return None
        if path == PIXEL_ROUTE:
            return PIXEL_ROUTE, lambda request, _: handle_conversion_pixel(deps, request)
        if path.startswith("/c/"):
            ids = _two_segments(path, 3)
            if ids is not None:
                partner, campaign = ids

                async def click(request: RequestView, _: Receive) -> Response:
                    url = _param(request, "url", URL_MAX_LENGTH)
                    return await handle_click(deps, request, partner, campaign, url, _subs(request))

                return CLICK_ROUTE, click
        if path.startswith("/i/"):
            ids = _two_segments(path, 3)
            if ids is not None:
                partner, campaign = ids

                async def impression(request: RequestView, _: Receive) -> Response:
                    return await handle_impression(deps, request, partner, campaign, _subs(request))

                return IMPRESSION_ROUTE, impression
        return None

    async def _sdk_batch(self, request: RequestView, receive: Receive) -> Response:
        async def read(limit: int) -> bytes:
            return await receive_body(request, receive, limit)

        return await handle_sdk_batch(self.deps, request, read)

    async def serve(
        self, template: str, handler: Handler, scope: Scope, receive: Receive, send: Send
    ) -> None:
        request = LeanRequest(scope)
        try:
            response = await handler(request, receive)
        except TrackerError as exc:
            response = tracker_error_response(exc)
        except BusError as exc:
            response = bus_error_response(exc, template)
        except ParameterTooLong as exc:
            response = error_response(422, "invalid_parameter", str(exc))
        except ClientDisconnect:  # gone before its body arrived: nothing read, nothing to answer
            return
        except Exception:
            log.exception("unhandled error", extra={"path": template})
            response = error_response(500, "internal_error", "internal server error")
        await response(scope, receive, send)
        self._count_request(template, response.status_code)


class CollectorApp(FastAPI):
    """The collector's FastAPI app; ``fast_paths`` (when set) serves its hot paths first."""

    fast_paths: TrackingFastPaths | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.fast_paths
        if fast is not None and scope["type"] == "http":
            routed = fast.route(scope["method"], scope["path"])
            if routed is not None:
                scope["app"] = self
                await fast.serve(*routed, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

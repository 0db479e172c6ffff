"""`POST /v1/events`: SDK and browser batches, authenticated by a per-advertiser write key.

Accepts `application/json` and the `text/plain` JSON that `navigator.sendBeacon` sends. CORS
is answered per write key: a browser's `Origin` must be on its advertiser's allowlist.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from schemas.events import Source
from services.collector.deps import CollectorDeps
from services.collector.http_errors import tracker_error_response
from services.collector.lean_request import RequestView
from services.collector.responses import json_response
from tracker.errors import Forbidden, TooLarge, TrackerError, Unauthorized
from tracker.registry import Advertiser
from tracker.sdk_batches import parse_batch_body

log = logging.getLogger("partnerstream.collector")

BATCH_EXAMPLE = {
    "write_key": "dev-acme-write-key-0001",
    "events": [
        {
            "type": "conversion",
            "ts": "2026-11-23T10:00:00Z",
            "event_name": "purchase",
            "order_id": "A-1001",
            "revenue": 4999,
            "currency": "EUR",
            "click_id": "<click id>",
        },
    ],
}


BodyReader = Callable[[int], Awaitable[bytes]]


async def receive_body(request: RequestView, receive: Receive, limit: int) -> bytes:
    """The request body from the ASGI channel, refusing (413) as soon as it is larger than
    `limit` bytes (its declared length first); `ClientDisconnect` if the client went away."""
    too_large = TooLarge(f"request body is larger than {limit} bytes")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    """`receive_body` of a Starlette request (its body not read before)."""
    return await receive_body(request, request.receive, limit)


def bearer_token(request: RequestView) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def _known_origin(deps: CollectorDeps, origin: str) -> bool:
    return any(a.allows_origin(origin) for a in deps.registry.advertisers.values())


def _authenticate(deps: CollectorDeps, request: RequestView, body_key: str | None) -> Advertiser:
    try:
        advertiser = deps.registry.advertiser_for_write_key(bearer_token(request) or body_key)
        origin = request.headers.get("origin")
        if origin and not advertiser.allows_origin(origin):
            raise Forbidden(
                f"origin {origin} is not allowed for this key", reason="origin_not_allowed"
            )
    except (Unauthorized, Forbidden) as exc:
        deps.metrics.auth_failures.labels(exc.reason).inc()
        log.warning("auth_failed", extra={"path": "/v1/events", "reason": exc.reason})
        raise
    return advertiser


async def handle_sdk_batch(deps: CollectorDeps, request: RequestView, read: BodyReader) -> Response:
    """`POST /v1/events`, for the FastAPI route and the fast path alike: ``read(limit)``
    gives the body or raises `TooLarge`. Raises BusError when the events are not durable."""
    settings = deps.settings
    origin = request.headers.get("origin")
    try:
        body = await read(settings.max_request_bytes)
        batch = parse_batch_body(body)
        advertiser = _authenticate(deps, request, batch.write_key)
        if batch.items:
            deps.rate_limit(f"sdk:{advertiser.id}", cost=len(batch.items))
    except TrackerError as exc:
        response = tracker_error_response(exc)
        if origin and _known_origin(deps, origin):
            response.headers.update(cors_headers(origin))
        return response
    info = deps.request_info(request, Source.SDK, advertiser.id)
    outcome = await deps.intake.accept_items(
        batch.items, info, "/v1/events", check_size=len(body) > settings.max_event_bytes
    )
    payload: dict[str, Any] = outcome.as_response()
    # orjson writes what JSONResponse's json.dumps writes here (str, int, list), faster
    return json_response(orjson.dumps(payload), cors_headers(origin) if origin else None)


def build_router(deps: CollectorDeps) -> APIRouter:
    router = APIRouter(tags=["SDK"])

    @router.options("/v1/events", include_in_schema=False)
    async def preflight(request: Request) -> Response:
        origin = request.headers.get("origin", "")
        if not origin or not _known_origin(deps, origin):
            return Response(status_code=403)
        headers = cors_headers(origin) | {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers=headers)

    @router.post(
        "/v1/events",
        summary="Send a batch of events",
        description='Body `{"events": [...]}` as JSON or text/plain (sendBeacon); the write '
        "key as `Authorization: Bearer <key>` or a `write_key` field. Valid events are kept "
        "even when others in the batch are refused.",
        openapi_extra={
            "requestBody": {"content": {"application/json": {"example": BATCH_EXAMPLE}}}
        },
        responses={
            200: {"description": "`{accepted, rejected: [{index, error, detail}], event_ids}`"},
            400: {"description": "malformed JSON or batch shape"},
            401: {"description": "missing or unknown write key"},
            403: {"description": "browser origin not allowed for this key"},
            413: {"description": "event or request over the size limits"},
            429: {"description": "rate limited (Retry-After)"},
        },
    )
    async def events(request: Request) -> Response:
        return await handle_sdk_batch(deps, request, lambda limit: read_body(request, limit))

    return router

"""Advertiser servers: `POST /v1/conversions` (batch) and `POST /v1/conversions/{order_id}/reverse`.

**Authentication** uses the advertiser's `generic` postback source in the registry, a server
secret, never a write key (write keys ship in browser JavaScript): its token as
`Authorization: Bearer <token>` (or a `token` query parameter), and/or
`X-Partnerstream-Signature: <hex HMAC-SHA256 of the body>` (of the sorted query string when
the body is empty), plus its optional `allowed_cidrs`. Failures: 401/403, counted, logged as
`postback_auth_failed`, nothing stored.

**Conversions**: `{"events": [...]}` (or a bare list) of `conversion` (the default type) or
`reversal` events, with the SDK API's per-item results `{accepted, rejected: [{index, error,
detail}], event_ids}`. An item without an `event_id` gets a deterministic one from its event
name and `transaction_id` (else `order_id`), so a retried batch is counted once; a changed
order is a reversal (reason `modified`) plus a new conversion, not a resend.

**Reversals**: the body (optional) is `{amount, currency, reason, ts, reversal_id, click_id,
device_id, device_id_type, customer_id}`; no amount reverses the whole order. The reversal is
recorded whether or not the order is known (the attributor matches it later) and answered
202 `{"status": "accepted", "event_id"}`. Its event id derives from `reversal_id`, else the
`Idempotency-Key` header, else the body: a retry is counted once, so tell two identical
partial reversals apart with a `reversal_id` or `ts`. Send the identifiers the order was
reported with (`click_id`, `device_id`, `customer_id`) so the reversal is keyed to the same
partition as the order.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.events import (
    CurrencyCode,
    DeviceIdType,
    EventBase,
    Identifier,
    MinorUnits,
    Reversal,
    ReversalReason,
    Source,
    UtcDatetime,
)
from services.collector.deps import CollectorDeps
from services.collector.http_errors import error_response
from services.collector.intake import Outcome, Rejection
from services.collector.routes.postbacks import (
    authenticate,
    record_auth_failure,
    source_auth,
)
from services.collector.routes.sdk import bearer_token, read_body
from tracker.dead_letters import DeadLetter
from tracker.enrich import RequestInfo, ms_to_datetime
from tracker.errors import InvalidEvent, TrackerError
from tracker.mobile import deterministic_id
from tracker.postbacks import PostbackAuthFailed, PostbackSourceForbidden, default_presets
from tracker.registry import Advertiser
from tracker.sdk_batches import InvalidJson, describe, parse_batch_body, validate_item

SERVER_SOURCE = "generic"  # the registry postback source that authenticates servers
TOKEN_PARAM = "token"
S2S_TYPES = frozenset({"conversion", "reversal"})
CONVERSIONS_PATH = "/v1/conversions"
REVERSE_PATH = "/v1/conversions/{order_id}/reverse"
REVERSE_ENDPOINT = "/v1/conversions/reverse"  # in dead letters and logs


class ReversalRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    amount: MinorUnits | None = Field(None, description="minor units; absent reverses it all")
    currency: CurrencyCode | None = Field(None, description="default: the advertiser's")
    reason: ReversalReason = ReversalReason.OTHER
    ts: UtcDatetime | None = Field(None, description="default: when it was received")
    reversal_id: Identifier | None = Field(None, description="your id: retries count once")
    click_id: Annotated[str, Field(max_length=256)] | None = None
    device_id: Identifier | None = None
    device_id_type: DeviceIdType | None = None
    customer_id: Identifier | None = None


def _digest(value: object) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def s2s_event_id(advertiser_id: str, item: dict[str, Any]) -> str | None:
    """A deterministic id for a batch item without one (module docstring), or None."""
    if item.get("type") == "conversion":
        name, ref = item.get("event_name"), item.get("transaction_id") or item.get("order_id")
        if isinstance(name, str) and isinstance(ref, str) and ref:
            kind = "transaction" if item.get("transaction_id") else "order"
            return deterministic_id("s2s", advertiser_id, "conversion", name, kind, ref)
        return None
    order_id = item.get("order_id")
    if isinstance(order_id, str):
        return deterministic_id("s2s", advertiser_id, "reversal", order_id, _digest(item))
    return None


def s2s_item(item: object, advertiser_id: str) -> object:
    """A batch item with its default type and deterministic id; InvalidEvent for a type
    other than conversion and reversal. Non-objects pass through (validate_item refuses)."""
    if not isinstance(item, dict):
        return item
    prepared: dict[str, Any] = {"type": "conversion", **item}
    if prepared["type"] not in S2S_TYPES:
        raise InvalidEvent(
            f"`{prepared['type']}` events are not accepted here; send conversions and reversals"
        )
    if "event_id" not in prepared:
        event_id = s2s_event_id(advertiser_id, prepared)
        if event_id is not None:
            prepared["event_id"] = event_id
    return prepared


def reversal_event(
    order_id: str,
    request: ReversalRequest,
    *,
    advertiser: Advertiser,
    dedup_key: str,
    received_at_ms: int,
) -> Reversal:
    return Reversal(
        event_id=deterministic_id("s2s", advertiser.id, "reversal", order_id, dedup_key),
        ts=request.ts or ms_to_datetime(received_at_ms),
        order_id=order_id,
        amount=request.amount,
        currency=request.currency or (advertiser.currency if request.amount is not None else None),
        reason=request.reason,
        click_id=request.click_id,
        device_id=request.device_id,
        device_id_type=request.device_id_type,
        customer_id=request.customer_id,
    )


def parse_reversal_body(body: bytes) -> ReversalRequest:
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidEvent("the body must be a JSON object")
    try:
        return ReversalRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc)) from exc


def build_router(deps: CollectorDeps) -> APIRouter:
    router = APIRouter(tags=["server-to-server"])
    settings = deps.settings
    candidates = source_auth(deps.registry, default_presets()).get(SERVER_SOURCE, ())

    def authenticate_server(request: Request, body: bytes, endpoint: str) -> Advertiser:
        params = dict(request.query_params)
        token = bearer_token(request)
        if token:
            params[TOKEN_PARAM] = token
        client_ip = deps.client_ip(request)
        try:
            advertiser_id = authenticate(candidates, params, request.headers, body, client_ip)
        except (PostbackAuthFailed, PostbackSourceForbidden) as exc:
            record_auth_failure(deps, exc, endpoint, client_ip)
            raise
        return deps.registry.advertiser(advertiser_id)

    async def accept_batch(
        items: Sequence[Any], info: RequestInfo, advertiser_id: str, check_size: bool
    ) -> Outcome:
        """Per-item validation as the SDK API does, with the S2S types and ids."""
        outcome = Outcome()
        letters: list[DeadLetter] = []
        valid: list[tuple[int, EventBase]] = []
        for index, item in enumerate(items):
            try:
                prepared = s2s_item(item, advertiser_id)
                event = validate_item(
                    prepared,
                    max_event_bytes=settings.max_event_bytes,
                    check_size=check_size,
                    allowed_server_only=True,
                )
            except TrackerError as exc:
                outcome.rejected.append(Rejection(index, exc.reason, exc.message))
                letters.append(deps.intake.dead_letter(exc, item, info, CONVERSIONS_PATH))
                continue
            valid.append((index, event))
        published, _ = await asyncio.gather(
            deps.intake.accept_events([e for _, e in valid], info, CONVERSIONS_PATH),
            deps.intake.publisher.dead_letter(letters),
        )
        outcome.accepted = published.accepted
        outcome.rejected += [replace(r, index=valid[r.index][0]) for r in published.rejected]
        outcome.rejected.sort(key=lambda r: r.index)
        return outcome

    @router.post(
        CONVERSIONS_PATH,
        summary="Report conversions (and reversals) from the advertiser's server",
        description='Body `{"events": [...]}`; authenticated by the advertiser\'s server '
        "token (Bearer) or HMAC-SHA256 signature of the body.",
        responses={
            200: {"description": "`{accepted, rejected: [{index, error, detail}], event_ids}`"},
            400: {"description": "malformed JSON or batch shape"},
            401: {"description": "missing or wrong token / signature"},
            403: {"description": "sender address outside the allowlist"},
            413: {"description": "over the size limits"},
        },
    )
    async def conversions(request: Request) -> Response:
        body = await read_body(request, settings.max_request_bytes)
        advertiser = authenticate_server(request, body, CONVERSIONS_PATH)
        info = RequestInfo(
            received_at_ms=deps.clock.now_ms(), source=Source.S2S, advertiser_id=advertiser.id
        )
        try:
            batch = parse_batch_body(body)
        except TrackerError as exc:
            await deps.intake.reject(exc, body, info, CONVERSIONS_PATH)
            raise
        deps.rate_limit(f"s2s:{advertiser.id}", cost=max(1, len(batch.items)))
        outcome = await accept_batch(
            batch.items, info, advertiser.id, check_size=len(body) > settings.max_event_bytes
        )
        return JSONResponse(outcome.as_response())

    @router.post(
        REVERSE_PATH,
        status_code=202,
        summary="Reverse an order, fully or partly",
        description="Records a `reversal` event, also for an order not seen yet (matched "
        "later). Body (optional): `{amount, currency, reason, ts, reversal_id, click_id, "
        "device_id, customer_id}`.",
        responses={
            202: {"description": '`{"status": "accepted", "event_id"}`, also for a retry'},
            400: {"description": "malformed body or order id (dead-lettered)"},
            401: {"description": "missing or wrong token / signature"},
        },
    )
    async def reverse(request: Request, order_id: str) -> Response:
        body = await read_body(request, settings.max_event_bytes)
        advertiser = authenticate_server(request, body, REVERSE_ENDPOINT)
        now_ms = deps.clock.now_ms()
        info = RequestInfo(received_at_ms=now_ms, source=Source.S2S, advertiser_id=advertiser.id)
        deps.rate_limit(f"s2s:{advertiser.id}")
        try:
            reversal_request = parse_reversal_body(body)
            key = (
                reversal_request.reversal_id
                or request.headers.get("idempotency-key")
                or _digest(reversal_request.model_dump(mode="json"))
            )
            try:
                event = reversal_event(
                    order_id,
                    reversal_request,
                    advertiser=advertiser,
                    dedup_key=key,
                    received_at_ms=now_ms,
                )
            except ValidationError as exc:
                raise InvalidEvent(describe(exc)) from exc
        except TrackerError as exc:
            raw = {"order_id": order_id, "body": body.decode("utf-8", "replace")}
            await deps.intake.reject(exc, raw, info, REVERSE_ENDPOINT)
            raise
        outcome = await deps.intake.accept_events([event], info, REVERSE_ENDPOINT)
        if outcome.rejected:
            rejection = outcome.rejected[0]
            return error_response(400, rejection.reason, rejection.detail)
        return JSONResponse(
            {"status": "accepted", "event_id": outcome.accepted[0].event_id}, status_code=202
        )

    return router

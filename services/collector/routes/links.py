"""Tracking links: `GET /c/{partner}/{campaign}` (click, 302) and `GET /i/...` (impression)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from schemas.events import Source
from services.collector.deps import CollectorDeps
from services.collector.lean_request import RequestView, request_target
from services.collector.random_ids import random_bytes
from services.collector.responses import gif_response, redirect_response
from tracker.click_ids import NONCE_BYTES, ClickIdClaims, mint_click_id
from tracker.errors import TrackerError

VISITOR_COOKIE_MAX_AGE_S = 400 * 24 * 3600  # the longest browsers keep a cookie
SUB_MAX_LENGTH = 255
URL_MAX_LENGTH = 4096
SubParam = Annotated[str | None, Query(max_length=SUB_MAX_LENGTH)]


Subs = tuple[str | None, str | None, str | None, str | None, str | None]
SUB_NAMES = ("sub1", "sub2", "sub3", "sub4", "sub5")


def set_visitor_cookie(
    deps: CollectorDeps, response: Response, request: RequestView, visitor_id: str
) -> None:
    """``Set-Cookie`` for the visitor id (a UUID: no quoting needed), written directly; what
    Starlette's ``set_cookie`` writes, without building an ``http.cookies`` jar per click."""
    secure = "; Secure" if deps.is_secure(request) else ""
    cookie = (
        f"{deps.settings.visitor_cookie}={visitor_id}; HttpOnly; "
        f"Max-Age={VISITOR_COOKIE_MAX_AGE_S}; Path=/; SameSite=lax{secure}"
    )
    response.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))


def _link_event(
    kind: str, partner_id: str, campaign_id: str, visitor_id: str, ts_ms: int, subs: Subs
) -> dict[str, Any]:
    """A click's or impression's raw event (the SDK's plain shape: `Intake.accept_items`
    encodes it without pydantic, or validates it like any item when it is not plain)."""
    event: dict[str, Any] = {
        "type": kind,
        "ts": ts_ms,
        "partner_id": partner_id,
        "campaign_id": campaign_id,
        "visitor_id": visitor_id,
    }
    for name, value in zip(SUB_NAMES, subs, strict=True):
        if value is not None:
            event[name] = value
    return event


async def handle_click(
    deps: CollectorDeps,
    request: RequestView,
    partner_id: str,
    campaign_id: str,
    url: str | None,
    subs: Subs,
) -> Response:
    """Record the click, mint its signed id, answer the 302 (raises TrackerError, BusError).
    A click whose event is refused (dead-lettered) still redirects: the visitor is not
    stranded for a bad sub-parameter."""
    partner = deps.registry.partner(partner_id)
    campaign = deps.registry.campaign(campaign_id)
    visitor, new_visitor = deps.visitor_id(request)
    visitor_id = str(visitor)
    info = deps.request_info(request, Source.LINK, campaign.advertiser_id)
    nonce = random_bytes(NONCE_BYTES)
    claims = ClickIdClaims(deps.click_secrets.signing_key_id, info.received_at_ms, visitor, nonce)
    click_id = mint_click_id(deps.click_secrets, visitor, info.received_at_ms, nonce)
    target = campaign.redirect_url(url, click_id)  # raises RedirectRefused
    event = _link_event("click", partner.id, campaign.id, visitor_id, info.received_at_ms, subs)
    event["event_id"] = str(claims.event_id)
    event["click_id"] = click_id
    event["landing_url"] = target
    await deps.intake.accept_items(
        [event], info, "/c", check_size=False, minted=claims, as_received=request_target(request)
    )
    response = redirect_response(target)
    if new_visitor:
        set_visitor_cookie(deps, response, request, visitor_id)
    return response


async def handle_impression(
    deps: CollectorDeps, request: RequestView, partner_id: str, campaign_id: str, subs: Subs
) -> Response:
    """Record the impression; always the GIF (a refused one is dead-lettered)."""
    visitor, new_visitor = deps.visitor_id(request)
    info = deps.request_info(request, Source.PIXEL)
    target = request_target(request)
    try:
        partner = deps.registry.partner(partner_id)
        campaign = deps.registry.campaign(campaign_id)
    except TrackerError as exc:  # a pixel never breaks a page: record and answer the GIF
        await deps.intake.reject(exc, target, info, "/i")
        return gif_response(exc.reason)
    info = replace(info, advertiser_id=campaign.advertiser_id)
    event = _link_event(
        "impression", partner.id, campaign.id, str(visitor), info.received_at_ms, subs
    )
    outcome = await deps.intake.accept_items(
        [event], info, "/i", check_size=False, as_received=target
    )
    rejected = outcome.rejected[0].reason if outcome.rejected else None
    response = gif_response(rejected)
    if new_visitor and rejected is None:
        set_visitor_cookie(deps, response, request, str(visitor))
    return response


def build_router(deps: CollectorDeps) -> APIRouter:
    """The documented routes; `services.collector.fast_paths` serves the same handlers
    without FastAPI's per-request machinery."""
    router = APIRouter(tags=["tracking links"])

    @router.get(
        "/c/{partner_id}/{campaign_id}",
        status_code=302,
        response_class=RedirectResponse,
        responses={
            302: {"description": "to the landing URL with the signed click id appended"},
            400: {"description": "`url` override not allowed (no open redirect)"},
            404: {"description": "unknown partner or campaign"},
        },
        summary="Click: record it, mint a signed click id, redirect",
    )
    async def click(
        request: Request,
        partner_id: str,
        campaign_id: str,
        url: Annotated[
            str | None, Query(max_length=URL_MAX_LENGTH, description="allowed override")
        ] = None,
        sub1: SubParam = None,
        sub2: SubParam = None,
        sub3: SubParam = None,
        sub4: SubParam = None,
        sub5: SubParam = None,
    ) -> Response:
        subs = (sub1, sub2, sub3, sub4, sub5)
        return await handle_click(deps, request, partner_id, campaign_id, url, subs)

    @router.get(
        "/i/{partner_id}/{campaign_id}",
        response_class=Response,
        responses={200: {"content": {"image/gif": {}}, "description": "1x1 transparent GIF"}},
        summary="Impression pixel (view-through touch)",
    )
    async def impression(
        request: Request,
        partner_id: str,
        campaign_id: str,
        sub1: SubParam = None,
        sub2: SubParam = None,
        sub3: SubParam = None,
        sub4: SubParam = None,
        sub5: SubParam = None,
    ) -> Response:
        subs = (sub1, sub2, sub3, sub4, sub5)
        return await handle_impression(deps, request, partner_id, campaign_id, subs)

    return router

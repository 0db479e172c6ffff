"""Tracking links: `GET /c/{partner}/{campaign}` (click, 302) and `GET /i/...` (impression)."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from schemas.events import Click, Impression, Source
from services.collector.deps import CollectorDeps
from services.collector.routes.pixel import gif_response
from tracker.click_ids import event_id_for_click, mint_click_id
from tracker.enrich import ms_to_datetime
from tracker.errors import TrackerError

VISITOR_COOKIE_MAX_AGE_S = 400 * 24 * 3600  # the longest browsers keep a cookie
SubParam = Annotated[str | None, Query(max_length=255)]


def build_router(deps: CollectorDeps) -> APIRouter:
    router = APIRouter(tags=["tracking links"])
    settings = deps.settings

    def set_visitor_cookie(response: Response, request: Request, visitor_id: str) -> None:
        response.set_cookie(
            settings.visitor_cookie,
            visitor_id,
            max_age=VISITOR_COOKIE_MAX_AGE_S,
            httponly=True,
            secure=deps.is_secure(request),
            samesite="lax",
            path="/",
        )

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
        url: Annotated[str | None, Query(max_length=4096, description="allowed override")] = None,
        sub1: SubParam = None,
        sub2: SubParam = None,
        sub3: SubParam = None,
        sub4: SubParam = None,
        sub5: SubParam = None,
    ) -> Response:
        partner = deps.registry.partner(partner_id)
        campaign = deps.registry.campaign(campaign_id)
        visitor, new_visitor = deps.visitor_id(request)
        info = deps.request_info(request, Source.LINK, campaign.advertiser_id)
        nonce = os.urandom(8)
        click_id = mint_click_id(deps.click_secrets, visitor, info.received_at_ms, nonce)
        target = campaign.redirect_url(url, click_id)  # raises RedirectRefused
        event = Click(
            event_id=str(event_id_for_click(info.received_at_ms, nonce)),
            ts=ms_to_datetime(info.received_at_ms),
            partner_id=partner.id,
            campaign_id=campaign.id,
            click_id=click_id,
            visitor_id=str(visitor),
            landing_url=target,
            sub1=sub1,
            sub2=sub2,
            sub3=sub3,
            sub4=sub4,
            sub5=sub5,
        )
        # The click id was minted here a moment ago: enrich() verifies it like any other.
        await deps.intake.accept_events([event], info, "/c")
        response = RedirectResponse(target, status_code=302)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer-when-downgrade"
        if new_visitor:
            set_visitor_cookie(response, request, str(visitor))
        return response

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
        visitor, new_visitor = deps.visitor_id(request)
        info = deps.request_info(request, Source.PIXEL)
        rejected: str | None = None
        try:
            partner = deps.registry.partner(partner_id)
            campaign = deps.registry.campaign(campaign_id)
            info = deps.request_info(request, Source.PIXEL, campaign.advertiser_id)
            event = Impression(
                ts=ms_to_datetime(info.received_at_ms),
                partner_id=partner.id,
                campaign_id=campaign.id,
                visitor_id=str(visitor),
                sub1=sub1,
                sub2=sub2,
                sub3=sub3,
                sub4=sub4,
                sub5=sub5,
            )
            await deps.intake.accept_events([event], info, "/i")
        except TrackerError as exc:  # a pixel never breaks a page: record and answer the GIF
            await deps.intake.reject(exc, str(request.url), info, "/i")
            rejected = exc.reason
        response = gif_response(rejected)
        if new_visitor and rejected is None:
            set_visitor_cookie(response, request, str(visitor))
        return response

    return router

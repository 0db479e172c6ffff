"""The conversion pixel `GET /p.gif` and the browser snippet `GET /ps.js`."""

from __future__ import annotations

from dataclasses import replace
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

from schemas.events import Source
from services.collector.deps import CollectorDeps
from services.collector.lean_request import RequestView, query_string
from services.collector.responses import gif_response
from tracker.errors import TrackerError, Unauthorized
from tracker.pixels import conversion_from_pixel

CLICK_ID_COOKIE = "ps_clickid"


async def handle_conversion_pixel(deps: CollectorDeps, request: RequestView) -> Response:
    """Record the conversion; always the GIF (a refused one is dead-lettered)."""
    params = request.query_params
    info = deps.request_info(request, Source.PIXEL)
    try:
        advertiser = deps.registry.advertiser_for_write_key(params.get("key"))
        info = replace(info, advertiser_id=advertiser.id)
        deps.rate_limit(f"pixel:{advertiser.id}")
        raw = conversion_from_pixel(
            params,
            ts_ms=info.received_at_ms,
            cookie_click_id=request.cookies.get(CLICK_ID_COOKIE),
            default_currency=advertiser.currency,
        )
        outcome = await deps.intake.accept_items(
            [raw], info, "/p.gif", check_size=False, as_received=query_string(request)
        )
    except TrackerError as exc:
        if isinstance(exc, Unauthorized):
            deps.metrics.auth_failures.labels(exc.reason).inc()
        await deps.intake.reject(exc, query_string(request), info, "/p.gif")
        return gif_response(exc.reason)
    rejected = outcome.rejected[0].reason if outcome.rejected else None
    return gif_response(rejected)


def build_router(deps: CollectorDeps) -> APIRouter:
    router = APIRouter(tags=["pixels"])
    snippet = resources.files("tracker").joinpath("static/ps.js").read_bytes()

    @router.get(
        "/p.gif",
        response_class=Response,
        responses={200: {"content": {"image/gif": {}}, "description": "always a 1x1 GIF"}},
        summary="Conversion pixel",
        description="`?key=<write key>&event=purchase&order_id=A1&amount=12.50&currency=EUR"
        "&clickid=<click id>`; the click id may also come from the `ps_clickid` cookie. "
        "Invalid input is dead-lettered with its reason (header `X-Partnerstream-Rejected`); "
        "the answer is always the GIF so a page never breaks.",
    )
    async def conversion_pixel(request: Request) -> Response:
        return await handle_conversion_pixel(deps, request)

    @router.get("/ps.js", response_class=Response, summary="The browser snippet")
    async def ps_js() -> Response:
        return Response(
            snippet,
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    return router

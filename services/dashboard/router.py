"""`GET /dashboard` (the page) and `GET /dashboard/static/{path}` (its scripts, styles, icon).

The page calls the reports API of the same origin (`<root path>/v1/...`) with the read key the
user typed; the router itself holds no key and reads no data. Everything is served from package
files: no CDN, nothing fetched from the internet at run time.
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.dashboard.assets import Asset, load_page_template, load_static_assets

ROOT_PLACEHOLDER = "{{root}}"

# Scripts and styles come from this origin only; the API is called on this origin only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # CSV links carry the read key in their query string: never send it on as a referrer.
    "Referrer-Policy": "no-referrer",
}


def render_page(template: str, root_path: str) -> str:
    """The page with the app's root path (where it is mounted behind a proxy) filled in."""
    return template.replace(ROOT_PLACEHOLDER, html.escape(root_path.rstrip("/"), quote=True))


def asset_response(asset: Asset, if_none_match: str | None) -> Response:
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if if_none_match is not None and asset.etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def build_dashboard_router() -> APIRouter:
    """The dashboard's routes. Include it in an app that also serves `/v1/reports/*`."""
    router = APIRouter(tags=["dashboard"])
    template = load_page_template()
    assets = load_static_assets()

    @router.get(
        "/dashboard",
        response_class=HTMLResponse,
        summary="Dashboard: charts and tables of the reports API, and the explain view",
    )
    async def dashboard_page(request: Request) -> HTMLResponse:
        page = render_page(template, str(request.scope.get("root_path", "")))
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
        return HTMLResponse(page, headers=headers)

    @router.get(
        "/dashboard/static/{asset_path:path}",
        summary="The dashboard's scripts, styles and icon (package files)",
        responses={404: {"description": "no such asset"}},
    )
    async def dashboard_asset(asset_path: str, request: Request) -> Response:
        asset = assets.get(asset_path)
        if asset is None:
            return Response(
                b'{"error":"not_found","detail":"no such dashboard asset"}',
                status_code=404,
                media_type="application/json",
            )
        return asset_response(asset, request.headers.get("if-none-match"))

    return router

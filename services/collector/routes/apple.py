"""Apple postbacks: SKAdNetwork and AdAttributionKit `report-attribution` endpoints.

Both verify Apple's signature with the keys loaded at start-up (`tracker.apple`), resolve the
app to the advertiser whose campaign names it (`tracker.mobile.AppDirectory`), and publish an
`Install` (fields: `tracker.mobile`) whose event id derives from the postback's dedup key
(SKAdNetwork: transaction-id, plus postback-sequence-index for 4.0; AdAttributionKit:
postback-identifier). A duplicate answers 200 with the same event id and is counted once.

Refusals are dead-lettered with their reason and answered with the error: 400 for a bad
signature, an untrusted key id (AdAttributionKit development keys are trusted only with
`skan_allow_development_keys`), an unsupported version or a malformed body; 404 `app_unknown`
for an app no campaign names. Apple's devices retry non-200 answers for days, so a postback
refused for an unknown app is accepted once the app is added to the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from schemas.events import Install, PartnerType, Source
from services.collector.deps import CollectorDeps
from services.collector.http_errors import error_response
from services.collector.routes.sdk import read_body
from tracker.apple import AppleKeys, default_apple_keys, verify_aak_postback, verify_skan_postback
from tracker.enrich import RequestInfo
from tracker.errors import TrackerError
from tracker.mobile import AppDirectory, install_from_aak, install_from_skan

SKAN_PATH = "/.well-known/skadnetwork/report-attribution/"
AAK_PATH = "/.well-known/appattribution/report-attribution/"
MAX_BODY_BYTES = 16 * 1024  # Apple's postbacks are well under 2 KB

BuildInstall = Callable[[bytes, int], tuple[str, Install]]  # (body, now) -> (advertiser, event)

RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": '`{"status": "accepted", "event_id"}`, also for a duplicate'},
    400: {"description": "bad signature, untrusted key, unsupported or malformed (dead-lettered)"},
    404: {"description": "`app_unknown`: no campaign names the app (dead-lettered)"},
}


def build_router(deps: CollectorDeps, keys: AppleKeys | None = None) -> APIRouter:
    router = APIRouter(tags=["Apple postbacks"])
    apple_keys = keys if keys is not None else default_apple_keys()
    apps = AppDirectory.from_registry(deps.registry)
    allow_development_keys = deps.settings.skan_allow_development_keys

    async def receive(
        request: Request, source: Source, endpoint: str, build: BuildInstall
    ) -> JSONResponse:
        now_ms = deps.clock.now_ms()
        info = RequestInfo(received_at_ms=now_ms, source=source)
        body = b""
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            advertiser_id, event = build(body, now_ms)
        except TrackerError as exc:
            await deps.intake.reject(exc, body, info, endpoint)
            raise
        info = replace(info, advertiser_id=advertiser_id)
        network = event.apple.ad_network_id if event.apple is not None else None
        owner = deps.registry.partner_for_ad_network(network)
        if owner is not None:  # credited to the partner that owns the ad network
            event = event.model_copy(
                update={"partner_id": owner.id, "partner_type": PartnerType(owner.partner_type)}
            )
        outcome = await deps.intake.accept_events([event], info, endpoint)
        if outcome.rejected:
            rejection = outcome.rejected[0]
            return error_response(400, rejection.reason, rejection.detail)
        return JSONResponse({"status": "accepted", "event_id": outcome.accepted[0].event_id})

    def skan_install(body: bytes, now_ms: int) -> tuple[str, Install]:
        postback = verify_skan_postback(body, apple_keys)
        app = apps.require(str(postback.app_id))
        return app.advertiser_id, install_from_skan(
            postback, advertiser_id=app.advertiser_id, app_id=app.app_id, received_at_ms=now_ms
        )

    def aak_install(body: bytes, now_ms: int) -> tuple[str, Install]:
        postback = verify_aak_postback(
            body, apple_keys, allow_development_keys=allow_development_keys
        )
        app = apps.require(str(postback.advertised_item_identifier))
        return app.advertiser_id, install_from_aak(
            postback, advertiser_id=app.advertiser_id, app_id=app.app_id, received_at_ms=now_ms
        )

    @router.post(
        SKAN_PATH,
        summary="SKAdNetwork install-validation postback (2.0 - 4.0)",
        responses=RESPONSES,
    )
    async def skadnetwork(request: Request) -> JSONResponse:
        return await receive(request, Source.SKAN, SKAN_PATH, skan_install)

    @router.post(
        AAK_PATH,
        summary="AdAttributionKit postback (compact ES256 JWS in `jws-string`)",
        responses=RESPONSES,
    )
    async def adattributionkit(request: Request) -> JSONResponse:
        return await receive(request, Source.AAK, AAK_PATH, aak_install)

    return router

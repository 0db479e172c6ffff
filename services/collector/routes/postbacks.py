"""`GET|POST /v1/postback/{source}`: install and in-app event postbacks from MMPs.

Per request, in this order:

1. `source` names a preset (`tracker/postbacks/presets.yaml`), else 404
   `postback_source_unknown`.
2. Parameters: the query string (GET), or the body (POST, form-encoded or a JSON object of
   scalars). A POST's query string may carry only the token: the HMAC signs the body, so
   other query parameters would be unsigned.
3. Authentication against the advertisers whose registry entry configures this source
   (`postback_sources`): when the postback's app belongs to a campaign, only that app's
   advertiser; otherwise each of them in turn, the first whose checks pass is the sender.
   Checks (`tracker.postbacks.auth`): the token parameter, the HMAC-SHA256 signature header,
   and the registry's `allowed_cidrs` (the vendor ranges listed in the presets are
   documentation to copy from, not applied). A failure answers 401 (403 for an address
   outside the allowlist), is counted in `auth_failures`, logged as `postback_auth_failed`
   (no secret, no device or click id) and stores nothing else.
4. Mapping, the app (404 `app_unknown` when no campaign of the advertiser names it; an
   install without an app is 400), the event (`tracker.mobile`), publication. Refusals from
   here on are dead-lettered with their reason, the token removed from the raw parameters.

Answer: 200 `{"status": "accepted", "event_id": ...}` once the event is durable; a retry
gets the same answer and the same deterministic event id, so it is counted once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from schemas.events import Conversion, Install, Source
from services.collector.deps import CollectorDeps
from services.collector.http_errors import error_response
from services.collector.lean_request import RequestView
from services.collector.routes.sdk import BodyReader, read_body
from tracker.enrich import RequestInfo
from tracker.errors import InvalidEvent, TrackerError, UnknownPostbackSource
from tracker.mobile import (
    AppDirectory,
    PostbackContext,
    check_click_id,
    event_from_postback,
)
from tracker.network import NetworkSet
from tracker.postbacks import (
    FraudRules,
    MappedPostback,
    PostbackAuthConfig,
    PostbackAuthFailed,
    PostbackMalformed,
    PostbackSourceForbidden,
    Preset,
    auth_config_for,
    default_presets,
    map_postback,
    verify_postback_auth,
)
from tracker.registry import Registry
from tracker.sdk_batches import describe

log = logging.getLogger("partnerstream.collector")

FORM = "application/x-www-form-urlencoded"
REDACTED = "[redacted]"
AuthCandidates = tuple[tuple[str, PostbackAuthConfig], ...]
AuthError = PostbackAuthFailed | PostbackSourceForbidden
Event = Install | Conversion


def source_auth(registry: Registry, presets: Mapping[str, Preset]) -> dict[str, AuthCandidates]:
    """Per source, each configuring advertiser with its checks (built once, at start-up)."""
    out: dict[str, list[tuple[str, PostbackAuthConfig]]] = {}
    for advertiser in registry.advertisers.values():
        for name, source in advertiser.postback_sources.items():
            preset = presets.get(name)
            if preset is None:
                continue
            config = auth_config_for(
                preset,
                tokens=[source.token.get_secret_value()] if source.token else [],
                hmac_secrets=[source.hmac_secret.get_secret_value().encode()]
                if source.hmac_secret
                else [],
                use_vendor_ip_ranges=False,
                extra_networks=source.allowed_cidrs,
            )
            out.setdefault(name, []).append((advertiser.id, config))
    return {name: tuple(entries) for name, entries in out.items()}


def authenticate(
    candidates: AuthCandidates,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    client_ip: str | None,
) -> str:
    """The id of the first candidate advertiser whose checks pass, else the auth error (the
    candidates' common reason, or the generic `postback_auth_failed`)."""
    errors: list[AuthError] = []
    for advertiser_id, config in candidates:
        try:
            verify_postback_auth(config, params, headers, body, client_ip)
        except (PostbackAuthFailed, PostbackSourceForbidden) as exc:
            errors.append(exc)
            continue
        return advertiser_id
    if errors and len({e.reason for e in errors}) == 1:
        raise errors[0]
    raise PostbackAuthFailed("no advertiser configured for this source accepts these credentials")


def record_auth_failure(
    deps: CollectorDeps, exc: TrackerError, endpoint: str, client_ip: str | None
) -> None:
    deps.metrics.auth_failures.labels(exc.reason).inc()
    log.warning(
        "postback_auth_failed",
        extra={"endpoint": endpoint, "reason": exc.reason, "client_ip": client_ip},
    )


def token_names(candidates: AuthCandidates) -> frozenset[str]:
    return frozenset({"token"} | {c.token_param for _, c in candidates if c.token_param})


def redact(params: Mapping[str, str], secret_names: Collection[str]) -> dict[str, str]:
    return {k: (REDACTED if k in secret_names else v) for k, v in params.items()}


def redact_text(text: str, secret_names: Iterable[str]) -> str:
    """A body that did not parse, with `name=value` / `"name": "value"` secrets masked."""
    for name in secret_names:
        quoted = re.escape(name)
        text = re.sub(rf"(^|&)({quoted}=)[^&]*", rf"\1\2{REDACTED}", text)
        text = re.sub(rf'("{quoted}"\s*:\s*)"[^"]*"', rf'\1"{REDACTED}"', text)
    return text


def _json_params(body: bytes) -> dict[str, str]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PostbackMalformed(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PostbackMalformed("a JSON body must be an object of parameters")
    params: dict[str, str] = {}
    for name, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            params[name] = str(value)
        else:
            raise PostbackMalformed(f"parameter {name!r} must be a string or a number")
    return params


def body_params(body: bytes, content_type: str) -> dict[str, str]:
    media = content_type.partition(";")[0].strip().lower()
    if media == FORM:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PostbackMalformed("form body is not UTF-8") from exc
        return dict(parse_qsl(text, keep_blank_values=True))
    if media == "application/json" or media.endswith("+json"):
        return _json_params(body)
    raise PostbackMalformed(f"Content-Type must be {FORM} or application/json, not {media!r}")


def postback_params(
    query: Mapping[str, str], body: bytes, content_type: str, secret_names: Collection[str]
) -> dict[str, str]:
    """The postback's parameters (module docstring, step 2)."""
    if not body:
        return dict(query)
    unsigned = sorted(set(query) - set(secret_names))
    if unsigned:
        raise PostbackMalformed(
            f"query parameters {unsigned} of a POST would not be signed; send them in the body"
        )
    params = body_params(body, content_type)
    return {**query, **params}


def raw_app_id(preset: Preset, params: Mapping[str, str]) -> str | None:
    """The app id as sent, before mapping: used only to pick whose credentials to check."""
    for name in preset.params.get("app_id", ()):
        value = params.get(name, "").strip()
        if value:
            return value
    # Per-store ids (Branch sends the iOS bundle id and the Android package of the same
    # Branch app): used only when exactly one is present; the mapping picks by platform.
    per_store = {
        value
        for field in ("ios_app_id", "android_app_id")
        for name in preset.params.get(field, ())
        if (value := params.get(name, "").strip())
    }
    return per_store.pop() if len(per_store) == 1 else None


class PostbackDoor:
    """The postback endpoint's work, for its FastAPI routes and the collector's fast path
    (``services/collector/fast_paths.py``) alike: everything built from the registry and the
    presets once, ``handle`` per request."""

    def __init__(self, deps: CollectorDeps, presets: Mapping[str, Preset] | None = None) -> None:
        settings = deps.settings
        registry = deps.registry
        self.deps = deps
        self.presets = presets if presets is not None else default_presets()
        self.apps = AppDirectory.from_registry(registry)
        self.auth_by_source = source_auth(registry, self.presets)
        self.rules = FraudRules(
            min_ctit_s=settings.ctit_min_seconds,
            datacenter_networks=NetworkSet.compile(settings.datacenter_networks),
        )
        self.partner_ids = frozenset(registry.partners)
        self.campaigns_of: dict[str, frozenset[str]] = {
            advertiser_id: frozenset(
                c.id for c in registry.campaigns.values() if c.advertiser_id == advertiser_id
            )
            for advertiser_id in registry.advertisers
        }
        self.click_max_age_ms = settings.click_id_max_age_days * 86_400_000

    def build_event(self, mapped: MappedPostback, advertiser_id: str, now_ms: int) -> Event:
        """The postback's Install or Conversion; TrackerError (dead-lettered) if it cannot be."""
        app = self.apps.require(mapped.app_id, advertiser_id) if mapped.app_id else None
        context = PostbackContext(
            advertiser_id=advertiser_id,
            app_id=app.app_id if app else None,
            received_at_ms=now_ms,
            click=check_click_id(
                mapped.click_id, self.deps.click_secrets, now_ms, self.click_max_age_ms
            ),
            rules=self.rules,
            partner_ids=self.partner_ids,
            campaign_ids=self.campaigns_of.get(advertiser_id, frozenset()),
        )
        try:
            return event_from_postback(mapped, context)
        except ValidationError as exc:  # a vendor value our schema refuses
            raise InvalidEvent(describe(exc)) from exc

    async def handle(self, request: RequestView, source: str, read: BodyReader) -> Response:
        """One postback; raises TrackerError (answered by the error handlers) or BusError.
        ``read(limit)`` gives a POST's body or raises `TooLarge`."""
        deps = self.deps
        now_ms = deps.clock.now_ms()
        info = RequestInfo(received_at_ms=now_ms, source=Source.MMP)
        preset = self.presets.get(source)
        candidates = self.auth_by_source.get(source, ())
        secrets = token_names(candidates)
        if preset is not None and preset.auth_token_param:
            secrets |= {preset.auth_token_param}
        endpoint = f"/v1/postback/{source}" if preset is not None else "/v1/postback"
        body = b""
        try:
            if preset is None:
                raise UnknownPostbackSource(f"no postback preset named {source!r}")
            if request.scope["method"] == "POST":
                body = await read(deps.settings.max_request_bytes)
            params = postback_params(
                request.query_params, body, request.headers.get("content-type", ""), secrets
            )
        except TrackerError as exc:
            raw = {
                "query": redact(request.query_params, secrets),
                "body": redact_text(body.decode("utf-8", "replace"), secrets),
            }
            await deps.intake.reject(exc, raw, info, endpoint)
            raise

        client_ip = deps.client_ip(request)
        owner = self.apps.owner(raw_app_id(preset, params))
        if owner is not None:
            candidates = tuple(c for c in candidates if c[0] == owner.advertiser_id)
        try:
            advertiser_id = authenticate(candidates, params, request.headers, body, client_ip)
        except (PostbackAuthFailed, PostbackSourceForbidden) as exc:
            record_auth_failure(deps, exc, endpoint, client_ip)
            raise
        deps.rate_limit(f"postback:{advertiser_id}:{source}")

        info = replace(info, advertiser_id=advertiser_id)
        try:
            mapped = map_postback(preset, params)
            event = self.build_event(mapped, advertiser_id, now_ms)
        except TrackerError as exc:
            await deps.intake.reject(exc, redact(params, secrets), info, endpoint)
            raise

        # The device's address (not the MMP's) is the event's, anonymised by enrich.
        info = replace(info, ip=mapped.device_ip)
        outcome = await deps.intake.accept_events([event], info, endpoint)
        if outcome.rejected:
            rejection = outcome.rejected[0]
            return error_response(400, rejection.reason, rejection.detail)
        return JSONResponse({"status": "accepted", "event_id": outcome.accepted[0].event_id})


def build_router(deps: CollectorDeps, door: PostbackDoor | None = None) -> APIRouter:
    router = APIRouter(tags=["postbacks"])
    door = door or PostbackDoor(deps)

    async def postback(request: Request, source: str) -> Response:
        return await door.handle(request, source, lambda limit: read_body(request, limit))

    for method in ("GET", "POST"):  # one route each: OpenAPI wants one operation id per method
        router.add_api_route(
            "/v1/postback/{source}",
            postback,
            methods=[method],
            name=f"postback_{method.lower()}",
            summary="MMP install / in-app event postback",
            description="`source`: appsflyer, adjust, branch, kochava or generic (the preset "
            "that names the parameters). Authenticated per source by a token parameter and/or "
            "an HMAC-SHA256 header, optionally an IP allowlist (registry `postback_sources`). "
            "POST: the parameters as a form or JSON body.",
            responses={
                200: {"description": '`{"status": "accepted", "event_id"}`, also for a retry'},
                400: {"description": "malformed postback (dead-lettered)"},
                401: {"description": "missing or wrong token / signature (nothing stored)"},
                403: {"description": "sender address outside the source's allowlist"},
                404: {"description": "unknown source, or an app no campaign names"},
                429: {"description": "rate limited (Retry-After)"},
            },
        )
    return router

"""The HTTP requests a simulated journey sends, built as values (pure: the caller passes the
time; nothing here sends, sleeps or reads a clock).

Each builder returns an `Outgoing`: method, path, query, headers, body, the statuses that
mean "accepted", and the route template it is counted under. The credentials are the
development placeholders of `deploy/registry.example.yaml` (`Credentials`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import orjson

from services.simulation.journeys import FLOOD_PARTNER, FLOOD_SUB1, Journey, Step
from tracker.postbacks import postback_signature

Method = Literal["GET", "POST"]
Mmp = Literal["appsflyer", "branch"]
CLICK_ID_PARAMS = ("clickid", "ps_click")  # the registry's click_param_name values
REJECTED_HEADER = "x-partnerstream-rejected"
SIGNATURE_HEADER = "X-Partnerstream-Signature"
BAD_CURRENCY = "EURO"  # deliberately invalid: such conversions must be dead-lettered


@dataclass(frozen=True, slots=True)
class Credentials:
    """Secrets of the example registry (development placeholders, never real ones)."""

    web_write_key: str = "dev-acme-write-key"
    web_server_token: str = "dev-acme-generic-postback-token"
    appsflyer_token: str = "dev-rocket-appsflyer-token"
    appsflyer_sender_ip: str = "192.0.2.10"  # inside the registry's allowed_cidrs for AppsFlyer
    branch_hmac_secret: str = "dev-rocket-branch-hmac-secret"


@dataclass(frozen=True, slots=True)
class App:
    app_id: str
    platform: Literal["ios", "android"]


APPS = {  # the app each install campaign of the example registry names
    "rocket-ios-install": App("id1234567890", "ios"),
    "rocket-android-install": App("net.example.rocket", "android"),
}


@dataclass(frozen=True, slots=True)
class Outgoing:
    method: Method
    path: str
    endpoint: str  # the route template, for counting
    kind: str  # the step kind it carries (click, conversion, install, ...)
    expected: frozenset[int]
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    deliberately_bad: bool = False  # must be refused and dead-lettered


@dataclass(frozen=True, slots=True)
class MobileCall:
    """What an MMP postback says about one device's install or in-app event."""

    app: App
    device_id: str
    device_ip: str
    click_id: str | None
    install_s: int
    click_s: int | None = None  # installs: the click's time
    event_name: str | None = None  # in-app events; None for the install
    event_s: int = 0  # in-app events: when it happened
    revenue_minor: int = 0
    currency: str = "USD"
    order_id: str = ""
    transaction_id: str = ""
    partner_id: str = ""
    campaign_id: str = ""


def device_id_for(journey: Journey, random_uuid: str) -> str:
    """An advertising id in its platform's spelling: IDFA upper case, GAID lower case;
    web journeys get a visitor-style id (lower case)."""
    platform = next((APPS[s.campaign_id].platform for s in journey.steps
                     if s.campaign_id in APPS), "ios")  # fmt: skip
    return random_uuid.upper() if journey.mobile and platform == "ios" else random_uuid.lower()


def major_units(minor: int) -> str:
    """12345 -> "123.45" (two-decimal currencies: EUR, USD)."""
    return f"{minor // 100}.{minor % 100:02d}"


def click_id_from_location(location: str | None) -> str | None:
    """The signed click id the collector appended to the landing URL it redirected to."""
    if not location:
        return None
    query = parse_qs(urlsplit(location).query)
    for name in CLICK_ID_PARAMS:
        if query.get(name):
            return query[name][0]
    return None


def click(journey: Journey, step: Step, user_agent: str) -> Outgoing:
    params = {"sub1": FLOOD_SUB1} if step.partner_id == FLOOD_PARTNER else {}
    return Outgoing("GET", f"/c/{step.partner_id}/{step.campaign_id}",
                    "GET /c/{partner}/{campaign}", "click", frozenset({302}), params,
                    {"user-agent": user_agent})  # fmt: skip


def impression(step: Step, user_agent: str) -> Outgoing:
    return Outgoing("GET", f"/i/{step.partner_id}/{step.campaign_id}",
                    "GET /i/{partner}/{campaign}", "impression", frozenset({200}), {},
                    {"user-agent": user_agent})  # fmt: skip


def sdk_conversion(
    journey: Journey,
    step: Step,
    *,
    now_ms: int,
    click_id: str | None,
    visitor_id: str | None,
    user_agent: str,
    bad: bool,
    credentials: Credentials,
) -> Outgoing:
    """The shop's browser snippet reporting a purchase: `POST /v1/events` with its write key."""
    event: dict[str, object] = {
        "type": "conversion",
        "ts": now_ms,
        "event_name": step.event_name,
        "order_id": step.order_id,
        "revenue": step.revenue,
        "currency": BAD_CURRENCY if bad else journey.currency,
    }
    if click_id:
        event["click_id"] = click_id
    elif visitor_id:
        event["visitor_id"] = visitor_id
    headers = {
        "authorization": f"Bearer {credentials.web_write_key}",
        "content-type": "application/json",
        "user-agent": user_agent,
    }
    return Outgoing("POST", "/v1/events", "POST /v1/events", "conversion", frozenset({200}),
                    {}, headers, orjson.dumps({"events": [event]}), bad)  # fmt: skip


def pixel_conversion(
    journey: Journey,
    step: Step,
    *,
    click_id: str | None,
    user_agent: str,
    bad: bool,
    credentials: Credentials,
) -> Outgoing:
    """The conversion pixel on the thank-you page: `GET /p.gif` (always answers the GIF)."""
    params = {
        "key": credentials.web_write_key,
        "event": step.event_name,
        "order_id": step.order_id,
        "amount": major_units(step.revenue),
        "currency": BAD_CURRENCY if bad else journey.currency,
    }
    if click_id:
        params["clickid"] = click_id
    return Outgoing("GET", "/p.gif", "GET /p.gif", "conversion", frozenset({200}), params,
                    {"user-agent": user_agent}, b"", bad)  # fmt: skip


def reversal(
    journey: Journey, step: Step, *, click_id: str | None, credentials: Credentials
) -> Outgoing:
    """The shop's server reversing an order (a refund): `POST /v1/conversions/{id}/reverse`."""
    body: dict[str, object] = {"reason": "returned", "reversal_id": f"rv-{journey.journey_id}"}
    if step.reversed_amount is not None:
        body["amount"] = step.reversed_amount
        body["currency"] = journey.currency
    if click_id:
        body["click_id"] = click_id
    headers = {
        "authorization": f"Bearer {credentials.web_server_token}",
        "content-type": "application/json",
    }
    return Outgoing("POST", f"/v1/conversions/{step.order_id}/reverse",
                    "POST /v1/conversions/{order_id}/reverse", "reversal", frozenset({202}),
                    {}, headers, orjson.dumps(body))  # fmt: skip


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def appsflyer_postback(call: MobileCall, credentials: Credentials) -> Outgoing:
    """An AppsFlyer install or in-app event postback, as its template fills it in
    (`tracker/postbacks/presets.yaml`), sent from an address of AppsFlyer's allowlist."""
    device = "idfa" if call.app.platform == "ios" else "advertising_id"
    params = {
        "token": credentials.appsflyer_token,
        device: call.device_id,
        "app_id": call.app.app_id,
        "platform": call.app.platform,
        "install_unix_ts": str(call.install_s),
    }
    if call.click_id:
        params["clickid"] = call.click_id
    if call.event_name is None:
        params |= {"ip": call.device_ip, "af_siteid": call.partner_id, "af_c_id": call.campaign_id}
        if call.click_s is not None:
            params["click_ts"] = str(call.click_s)
    else:
        params |= {"event_name": call.event_name, "event_time": _utc(call.event_s),
                   "event_id": call.transaction_id}  # fmt: skip
        if call.revenue_minor:
            params |= {"event_revenue": major_units(call.revenue_minor),
                       "event_revenue_currency": call.currency}  # fmt: skip
        if call.order_id:
            params["af_order_id"] = call.order_id
    kind = "install" if call.event_name is None else "in_app"
    return Outgoing("GET", "/v1/postback/appsflyer", "GET /v1/postback/appsflyer", kind,
                    frozenset({200}), params,
                    {"x-forwarded-for": credentials.appsflyer_sender_ip})  # fmt: skip


def branch_postback(call: MobileCall, credentials: Credentials) -> Outgoing:
    """A Branch install or in-app event postback, HMAC-signed (no address allowlist)."""
    device = "idfa" if call.app.platform == "ios" else "aaid"
    when_s = call.install_s if call.event_name is None else call.event_s
    params = {
        device: call.device_id,
        "app_id": call.app.app_id,
        "os": call.app.platform.upper(),
        "event_timestamp": str(when_s * 1000),
        "name": call.event_name or "INSTALL",
        "id": call.transaction_id or f"{call.device_id}-install",
    }
    if call.click_id:
        params["click_id"] = call.click_id
    if call.event_name is None:
        params |= {"ip": call.device_ip, "secondary_publisher": call.partner_id,
                   "campaign_id": call.campaign_id}  # fmt: skip
        if call.click_s is not None:
            params["touch_timestamp"] = str(call.click_s * 1000)
    else:
        if call.revenue_minor:
            params |= {"revenue": major_units(call.revenue_minor), "currency": call.currency}
        if call.order_id:
            params["transaction_id"] = call.order_id
    signature = postback_signature(credentials.branch_hmac_secret.encode(), params, b"")
    kind = "install" if call.event_name is None else "in_app"
    return Outgoing("GET", "/v1/postback/branch", "GET /v1/postback/branch", kind,
                    frozenset({200}), params, {SIGNATURE_HEADER: signature})  # fmt: skip


def mmp_postback(mmp: Mmp, call: MobileCall, credentials: Credentials) -> Outgoing:
    if mmp == "branch":
        return branch_postback(call, credentials)
    return appsflyer_postback(call, credentials)

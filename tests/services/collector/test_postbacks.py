"""`/v1/postback/{source}`: every preset end to end, auth, dedup, CTIT, install linking, and
the CPI+ story (click -> MMP install -> in-app events -> reversal) linked up on the bus."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient

from services.bus.memory_bus import MemoryProducer
from services.clock import FixedClock
from services.collector.app import create_app
from services.settings import CollectorSettings
from tests.services.collector.conftest import NOW_MS, REPO, keys, sent
from tests.tracker.postbacks.postback_samples import render
from tracker.mobile import install_id_for
from tracker.postbacks import default_presets, postback_signature
from tracker.registry import Registry, parse_registry

PRESETS = default_presets()
REGISTRY_FILE = REPO / "deploy" / "registry.example.yaml"
IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
DEVICE_IP = "81.2.69.142"
CLICK_S = NOW_MS // 1000
INSTALL_S = CLICK_S + 45
EVENT_S = CLICK_S + 600
IOS_APP, ANDROID_APP = "id1234567890", "net.example.rocket"

# rocket-app's postback_sources in deploy/registry.example.yaml
TOKENS = {
    "appsflyer": "dev-rocket-appsflyer-token",
    "adjust": "dev-rocket-adjust-token",
    "kochava": "dev-rocket-kochava-token",
}
HMAC = {
    "branch": b"dev-rocket-branch-hmac-secret",
    "kochava": b"dev-rocket-kochava-hmac-secret",
    "generic": b"dev-rocket-generic-hmac-secret",
}
SENDER_IP = {"appsflyer": "192.0.2.10", "adjust": "198.51.100.10", "generic": "203.0.113.10"}
CAMPAIGN = {
    "appsflyer": "rocket-ios-install",
    "adjust": "rocket-ios-install",
    "branch": "rocket-android-install",
    "kochava": "rocket-android-install",
    "generic": "rocket-ios-install",
}
SIGNATURE_HEADER = "X-Partnerstream-Signature"


def utc_datetime(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def install_macros(source: str, click_id: str) -> dict[str, str]:
    """What each vendor fills into its template for an install (times: click at CLICK_S)."""
    return {
        "appsflyer": {
            "(clickid)": click_id,
            "(idfa)": IDFA,
            "(ip)": DEVICE_IP,
            "(app-id)": IOS_APP,
            "(af_siteid)": "mobidream",
            "(campaign)": "Rocket Launch",
            "(install-unix-ts)": str(INSTALL_S),
            "(click-ts)": utc_datetime(CLICK_S) + ".000",  # AppsFlyer fills a UTC datetime
            "(event-name)": "install",
        },
        "adjust": {
            "{label}": click_id,
            "{idfa}": IDFA,
            "{ip_address}": DEVICE_IP,
            "{activity_kind}": "install",
            "{installed_at}": str(INSTALL_S),
            "{click_time}": str(CLICK_S),
            "{created_at}": str(INSTALL_S),
            "{app_id}": IOS_APP,
            "{os_name}": "ios",
            "{network_name}": "mobidream",
        },
        "branch": {
            "${(last_attributed_touch_data.~click_id)!}": click_id,
            "${(user_data.aaid)!}": GAID,
            "${(user_data.ip)!}": DEVICE_IP,
            "${(name)!}": "INSTALL",
            "${(event_timestamp)!}": str(INSTALL_S * 1000),
            "${(last_attributed_touch_timestamp)!}": str(CLICK_S * 1000),
            "${(id)!}": "1261537895543453920",
            "${(user_data.os)!}": "ANDROID",
            "${(bundle.android.package_name)!}": ANDROID_APP,
            "${(last_attributed_touch_data.~secondary_publisher)!}": "mobidream",
        },
        "kochava": {
            "{click_id}": click_id,
            "{adid}": GAID,
            "{device_ip}": DEVICE_IP,
            "{event_name}": "_install",
            "{install_date}": str(INSTALL_S),
            "{click_date}": str(CLICK_S),  # epoch seconds (Kochava's unit is undocumented)
            "{event_id}": "ko-install-1",
            "{app_id}": ANDROID_APP,
            "{site_id}": "mobidream",
            "{device_os}": "Android",
        },
        "generic": {
            "CLICK_ID": click_id,
            "IDFA": IDFA,
            "DEVICE_IP": DEVICE_IP,
            "EVENT_NAME": "install",
            "INSTALL_TS": str(INSTALL_S * 1000),
            "CLICK_TS": str(CLICK_S * 1000),
            "TRANSACTION_ID": "gen-install-1",
            "APP_ID": IOS_APP,
            "PARTNER_ID": "mobidream",
            "PLATFORM": "ios",
        },
    }[source]


def purchase_macros(source: str, click_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """(macros, extra parameters) of an in-app purchase of 4.99 USD, order R-1."""
    return {
        "appsflyer": (
            {
                "(clickid)": click_id,
                "(idfa)": IDFA,
                "(app-id)": IOS_APP,
                "(af_siteid)": "mobidream",
                "(install-unix-ts)": str(INSTALL_S),
                "(event-name)": "af_purchase",
                "(monetary)": "4.99",
                "(orig-monetary)": "4.99",
                "(currency)": "USD",
                "(timestamp)": "2026-11-23 10:10:00.000",
            },
            {"af_order_id": "R-1"},  # AppsFlyer has no order-id macro: a hand-added value
        ),
        "adjust": (
            {
                "{label}": click_id,
                "{idfa}": IDFA,
                "{activity_kind}": "event",
                "{event_name}": "purchase",
                "{revenue_float}": "4.99",
                "{currency}": "USD",
                "{created_at}": str(EVENT_S),
                "{installed_at}": str(INSTALL_S),
                "{app_id}": IOS_APP,
                "{os_name}": "ios",
            },
            {"order_id": "R-1"},
        ),
        "branch": (
            {
                "${(last_attributed_touch_data.~click_id)!}": click_id,
                "${(user_data.aaid)!}": GAID,
                "${(name)!}": "PURCHASE",
                "${(event_data.revenue)!}": "4.99",
                "${(event_data.currency)!}": "USD",
                "${(event_timestamp)!}": str(EVENT_S * 1000),
                "${(id)!}": "1261537895543453999",
                "${(event_data.transaction_id)!}": "R-1",
                "${(user_data.os)!}": "ANDROID",
                "${(bundle.android.package_name)!}": ANDROID_APP,
            },
            {},
        ),
        "kochava": (
            {
                "{click_id}": click_id,
                "{adid}": GAID,
                "{event_name}": "Purchase",
                "{revenue}": "4.99",
                "{currency}": "USD",
                "{event_time}": utc_datetime(EVENT_S),  # read with time format `auto`
                "{event_id}": "ko-ev-1",
                "{app_id}": ANDROID_APP,
                "{order_id}": "R-1",
                "{device_os}": "Android",
            },
            {},
        ),
        "generic": (
            {
                "CLICK_ID": click_id,
                "IDFA": IDFA,
                "EVENT_NAME": "purchase",
                "REVENUE": "4.99",
                "CURRENCY": "USD",
                "EVENT_TS": str(EVENT_S * 1000),
                "TRANSACTION_ID": "gen-ev-1",
                "APP_ID": IOS_APP,
                "ORDER_ID": "R-1",
            },
            {},
        ),
    }[source]


def postback_params(
    source: str, macros: dict[str, str], extra: dict[str, str] | None = None
) -> dict[str, str]:
    params = render(PRESETS[source], macros, extra)
    params.pop("token", None)
    if source in TOKENS:
        params["token"] = TOKENS[source]
    return params


def auth_headers(source: str, params: dict[str, str], body: bytes = b"") -> dict[str, str]:
    headers = {"x-forwarded-for": SENDER_IP.get(source, "100.64.0.1")}
    if source in HMAC:
        headers[SIGNATURE_HEADER] = postback_signature(HMAC[source], params, body)
    return headers


def send(client: TestClient, source: str, params: dict[str, str]) -> Any:
    return client.get(f"/v1/postback/{source}", params=params, headers=auth_headers(source, params))


def click(
    client: TestClient, producer: MemoryProducer, campaign: str = "rocket-ios-install"
) -> tuple[str, dict[str, Any]]:
    """A click on mobidream's link: (click id, the click event)."""
    r = client.get(f"/c/mobidream/{campaign}")
    assert r.status_code == 302
    click_id = parse_qs(urlsplit(r.headers["location"]).query)["clickid"][0]
    return click_id, sent(producer)[-1]


@pytest.fixture
def settings() -> CollectorSettings:
    return CollectorSettings(
        rate_limit_per_second=1000, rate_limit_burst=1000, trust_forwarded_for=True
    )


# --- every preset ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(PRESETS))
def test_install_postback_of_every_preset(
    client: TestClient, producer: MemoryProducer, source: str
) -> None:
    click_id, click_event = click(client, producer, CAMPAIGN[source])
    r = send(client, source, postback_params(source, install_macros(source, click_id)))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"
    install = sent(producer)[-1]
    app_id = IOS_APP if CAMPAIGN[source] == "rocket-ios-install" else ANDROID_APP
    device = IDFA if app_id == IOS_APP else GAID
    assert install["event_id"] == r.json()["event_id"]
    assert install["event_id"] == install_id_for("rocket-app", app_id, device)
    assert (install["type"], install["advertiser_id"], install["app_id"]) == (
        "install",
        "rocket-app",
        app_id,
    )
    assert install["device_id"] == device
    assert install["click_id"] == click_id
    assert install["click_event_id"] == click_event["event_id"]
    assert install["visitor_id"] == click_event["visitor_id"]
    assert install["ctit_seconds"] == 45.0
    assert install["partner_id"] == "mobidream"
    assert install["partner_type"] == "mobile_network"
    assert install["context"]["source"] == "mmp"
    assert install["context"]["ip"] == "81.2.69.0"  # the device's, anonymised; not the MMP's
    assert install["context"]["fraud_flags"] == []
    assert keys(producer)[-1] == keys(producer)[0] == f"v:{click_event['visitor_id']}".encode()
    assert sent(producer, "events.dlq.v1") == []


@pytest.mark.parametrize("source", sorted(PRESETS))
def test_in_app_postback_of_every_preset_links_to_its_install(
    client: TestClient, producer: MemoryProducer, source: str
) -> None:
    click_id, click_event = click(client, producer, CAMPAIGN[source])
    installed = send(client, source, postback_params(source, install_macros(source, click_id)))
    macros, extra = purchase_macros(source, click_id)
    r = send(client, source, postback_params(source, macros, extra))
    assert r.status_code == 200, r.text
    purchase = sent(producer)[-1]
    assert purchase["type"] == "conversion"
    assert purchase["install_id"] == installed.json()["event_id"]
    assert (purchase["revenue"], purchase["currency"], purchase["order_id"]) == (499, "USD", "R-1")
    assert purchase["event_name"] in {"af_purchase", "purchase"}
    assert purchase["click_event_id"] == click_event["event_id"]
    assert len(set(keys(producer))) == 1  # click, install, purchase: one partition


# --- authentication ----------------------------------------------------------------------------

AUTH_FAILURES: list[tuple[str, Callable[[dict[str, str], dict[str, str]], object], int, str]] = [
    ("appsflyer", lambda p, h: p.pop("token"), 401, "postback_token_missing"),
    (
        "appsflyer",
        lambda p, h: p.update(token="dev-rocket-appsflyer-tokeN"),
        401,
        "postback_token_invalid",
    ),
    (
        "appsflyer",
        lambda p, h: h.update({"x-forwarded-for": "100.64.0.9"}),
        403,
        "postback_ip_not_allowed",
    ),
    ("adjust", lambda p, h: p.update(token=TOKENS["appsflyer"]), 401, "postback_token_invalid"),
    ("branch", lambda p, h: h.pop(SIGNATURE_HEADER), 401, "postback_signature_missing"),
    ("branch", lambda p, h: p.update(revenue="999"), 401, "postback_signature_invalid"),
    (
        "kochava",
        lambda p, h: h.update({SIGNATURE_HEADER: "0" * 64}),
        401,
        "postback_signature_invalid",
    ),
    (
        "generic",
        lambda p, h: h.update({"x-forwarded-for": "198.51.100.10"}),
        403,
        "postback_ip_not_allowed",
    ),
]


@pytest.mark.parametrize(("source", "change", "status", "reason"), AUTH_FAILURES)
def test_auth_failures_store_nothing_and_log_without_secrets(
    client: TestClient,
    producer: MemoryProducer,
    caplog: pytest.LogCaptureFixture,
    source: str,
    change: Callable[[dict[str, str], dict[str, str]], object],
    status: int,
    reason: str,
) -> None:
    params = postback_params(source, install_macros(source, "ps-click"))
    headers = auth_headers(source, params)
    change(params, headers)
    with caplog.at_level(logging.WARNING, logger="partnerstream.collector"):
        r = client.get(f"/v1/postback/{source}", params=params, headers=headers)
    assert (r.status_code, r.json()["error"]) == (status, reason)
    assert sent(producer) == []
    assert sent(producer, "events.dlq.v1") == []
    [record] = [rec for rec in caplog.records if rec.getMessage() == "postback_auth_failed"]
    logged = str(record.__dict__)
    assert reason in logged
    assert "dev-rocket" not in logged
    assert IDFA not in logged
    metrics = client.get("/metrics").text
    assert f'partnerstream_auth_failures_total{{reason="{reason}"}} 1.0' in metrics


def test_app_of_another_advertiser_is_refused_with_this_sources_credentials(
    producer: MemoryProducer, clock: FixedClock
) -> None:
    data = yaml.safe_load(REGISTRY_FILE.read_text())
    data["advertisers"]["acme-shop"]["postback_sources"]["adjust"] = {
        "token": "acme-adjust-token-0001"
    }
    other = parse_registry(data)
    app = create_app(
        CollectorSettings(trust_forwarded_for=True), registry=other, producer=producer, clock=clock
    )
    with TestClient(app) as c:
        params = postback_params("adjust", install_macros("adjust", ""))
        params["token"] = "acme-adjust-token-0001"  # acme's token, rocket's app
        r = c.get("/v1/postback/adjust", params=params, headers=auth_headers("adjust", params))
        assert (r.status_code, r.json()["error"]) == (401, "postback_token_invalid")
        params["app_id"] = "com.acme.unknown"  # an app nobody owns: acme's token is acme's
        r = c.get("/v1/postback/adjust", params=params, headers=auth_headers("adjust", params))
        assert (r.status_code, r.json()["error"]) == (404, "app_unknown")
    assert sent(producer) == []
    [letter] = sent(producer, "events.dlq.v1")
    assert (letter["advertiser_id"], letter["reason"]) == ("acme-shop", "app_unknown")
    assert "acme-adjust-token-0001" not in letter["raw"]


# --- dedup, CTIT, fraud ------------------------------------------------------------------------


def test_a_retried_postback_answers_200_with_the_same_event_id(
    client: TestClient, producer: MemoryProducer
) -> None:
    click_id, _ = click(client, producer)
    install = postback_params("appsflyer", install_macros("appsflyer", click_id))
    macros, _ = purchase_macros("appsflyer", click_id)
    purchase = postback_params("appsflyer", macros)
    answers = [send(client, "appsflyer", p) for p in (install, purchase, install, purchase)]
    assert [a.status_code for a in answers] == [200] * 4
    ids = [a.json()["event_id"] for a in answers]
    assert ids[0] == ids[2]
    assert ids[1] == ids[3]
    assert ids[0] != ids[1]
    assert [e["event_id"] for e in sent(producer)[1:]] == ids  # the attributor drops repeats


def test_a_branch_postback_naming_both_store_ids_takes_its_platforms(
    client: TestClient, producer: MemoryProducer
) -> None:
    """Branch fills ${(bundle.ios.bundle_id)!} and ${(bundle.android.package_name)!} of one
    Branch app: the install is the app of its own OS."""
    click_id, _ = click(client, producer, CAMPAIGN["branch"])
    macros = install_macros("branch", click_id) | {"${(bundle.ios.bundle_id)!}": IOS_APP}
    r = send(client, "branch", postback_params("branch", macros))
    assert r.status_code == 200, r.text
    assert sent(producer)[-1]["app_id"] == ANDROID_APP


def test_installs_dedup_per_device_across_vendors(
    client: TestClient, producer: MemoryProducer
) -> None:
    a = send(client, "appsflyer", postback_params("appsflyer", install_macros("appsflyer", "")))
    macros = install_macros("adjust", "") | {"{deduplication_id}": "adj-install-1"}
    b = send(client, "adjust", postback_params("adjust", macros))  # (placeholder unconfirmed)
    assert a.json()["event_id"] == b.json()["event_id"]
    assert [e["transaction_id"] for e in sent(producer) if "transaction_id" in e] == [
        "adj-install-1"
    ]


def test_ctit_from_the_click_id_when_the_mmp_sends_no_click_time(
    client: TestClient, producer: MemoryProducer, clock: FixedClock
) -> None:
    click_id, _ = click(client, producer)
    clock.advance(300)
    macros = install_macros("appsflyer", click_id) | {
        "(click-ts)": "",
        "(install-unix-ts)": str(CLICK_S + 240),
    }
    assert send(client, "appsflyer", postback_params("appsflyer", macros)).status_code == 200
    install = sent(producer)[-1]
    assert install["ctit_seconds"] == 240.0
    assert install["click_ts"].startswith("2026-11-23T10:00:00")


def test_short_ctit_and_datacenter_ip_are_flagged_not_refused(
    registry: Registry, producer: MemoryProducer, clock: FixedClock
) -> None:
    settings = CollectorSettings(
        trust_forwarded_for=True, ctit_min_seconds=60, datacenter_networks=["81.2.69.0/24"]
    )
    app = create_app(settings, registry=registry, producer=producer, clock=clock)
    with TestClient(app) as c:
        r = send(c, "appsflyer", postback_params("appsflyer", install_macros("appsflyer", "")))
    assert r.status_code == 200
    [install] = sent(producer)
    assert install["ctit_seconds"] == 45.0
    assert install["context"]["fraud_flags"] == ["ctit_too_short", "datacenter_ip"]


def test_a_forged_click_id_is_dropped_and_flagged(
    client: TestClient, producer: MemoryProducer
) -> None:
    click_id, _click_event = click(client, producer)
    forged = click_id[:-2] + ("AA" if click_id[-2:] != "AA" else "BA")
    r = send(client, "appsflyer", postback_params("appsflyer", install_macros("appsflyer", forged)))
    assert r.status_code == 200
    install = sent(producer)[-1]
    assert "click_id" not in install
    assert "click_event_id" not in install
    assert install["context"]["fraud_flags"] == ["click_id_tampered"]
    assert keys(producer)[-1] == f"d:{IDFA}".encode()  # keyed by device, not the click's visitor


def test_in_app_event_without_click_id_is_keyed_by_device_and_still_linked(
    client: TestClient, producer: MemoryProducer
) -> None:
    installed = send(
        client, "appsflyer", postback_params("appsflyer", install_macros("appsflyer", ""))
    )
    macros, _ = purchase_macros("appsflyer", "")
    send(client, "appsflyer", postback_params("appsflyer", macros))
    install, purchase = sent(producer)
    assert purchase["install_id"] == installed.json()["event_id"] == install["event_id"]
    assert keys(producer) == [f"d:{IDFA}".encode()] * 2


# --- refusals after authentication (dead-lettered) ---------------------------------------------


def test_unknown_source_is_404_and_dead_lettered(
    client: TestClient, producer: MemoryProducer
) -> None:
    r = client.get("/v1/postback/tenjin", params={"token": "whatever", "idfa": IDFA})
    assert (r.status_code, r.json()["error"]) == (404, "postback_source_unknown")
    [letter] = sent(producer, "events.dlq.v1")
    assert letter["reason"] == "postback_source_unknown"
    assert "whatever" not in letter["raw"]
    assert sent(producer) == []


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        (
            {
                "(event-name)": "af_purchase",
                "(orig-monetary)": "12,99",
                "(currency)": "USD",
            },
            400,
            "postback_malformed",
        ),
        ({"(app-id)": "id999"}, 404, "app_unknown"),
        ({"(app-id)": ""}, 400, "postback_malformed"),
    ],
)
def test_bad_postbacks_are_dead_lettered_without_the_token(
    client: TestClient,
    producer: MemoryProducer,
    change: dict[str, str],
    status: int,
    reason: str,
) -> None:
    params = postback_params("appsflyer", install_macros("appsflyer", "") | change)
    r = send(client, "appsflyer", params)
    assert (r.status_code, r.json()["error"]) == (status, reason)
    [letter] = sent(producer, "events.dlq.v1")
    assert (letter["reason"], letter["advertiser_id"]) == (reason, "rocket-app")
    assert letter["endpoint"] == "/v1/postback/appsflyer"
    assert TOKENS["appsflyer"] not in letter["raw"]
    assert IDFA in letter["raw"]
    assert sent(producer) == []


def test_post_form_body_signed_with_hmac(client: TestClient, producer: MemoryProducer) -> None:
    params = postback_params("generic", install_macros("generic", ""))
    body = "&".join(f"{k}={v}" for k, v in params.items() if v).encode()
    headers = auth_headers("generic", params, body) | {
        "content-type": "application/x-www-form-urlencoded"
    }
    r = client.post("/v1/postback/generic", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert sent(producer)[0]["transaction_id"] == "gen-install-1"
    tampered = body.replace(b"gen-install-1", b"gen-install-2")
    r = client.post("/v1/postback/generic", content=tampered, headers=headers)
    assert (r.status_code, r.json()["error"]) == (401, "postback_signature_invalid")


def test_post_json_body_with_the_token_in_the_query(
    client: TestClient, producer: MemoryProducer
) -> None:
    params = postback_params("appsflyer", install_macros("appsflyer", ""))
    token = params.pop("token")
    body = orjson.dumps({k: v for k, v in params.items() if v} | {"install_unix_ts": INSTALL_S})
    headers = auth_headers("appsflyer", params) | {"content-type": "application/json"}
    r = client.post(f"/v1/postback/appsflyer?token={token}", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert sent(producer)[0]["app_id"] == IOS_APP
    r = client.post(
        f"/v1/postback/appsflyer?token={token}&idfa={IDFA}", content=body, headers=headers
    )
    assert (r.status_code, r.json()["error"]) == (400, "postback_malformed")


# --- the CPI+ story ----------------------------------------------------------------------------


def test_cpi_plus_story_links_up_on_the_bus(
    client: TestClient, producer: MemoryProducer, clock: FixedClock
) -> None:
    """Click on mobidream's link -> AppsFlyer install postback carrying the click id ->
    in-app registration and purchase postbacks -> the advertiser reverses the purchase."""
    click_id, _click_event = click(client, producer, "rocket-ios-install")
    clock.advance(45)
    installed = send(
        client, "appsflyer", postback_params("appsflyer", install_macros("appsflyer", click_id))
    )
    clock.advance(300)
    registration = postback_params(
        "appsflyer",
        {
            "(clickid)": click_id,
            "(idfa)": IDFA,
            "(app-id)": IOS_APP,
            "(event-name)": "registration",
            "(timestamp)": "2026-11-23 10:05:00.000",
            "(install-unix-ts)": str(INSTALL_S),
        },
    )
    registered = send(client, "appsflyer", registration)
    macros, extra = purchase_macros("appsflyer", click_id)
    purchased = send(client, "appsflyer", postback_params("appsflyer", macros, extra))
    clock.advance(86_400)
    body = orjson.dumps({"reason": "fraud", "click_id": click_id, "reversal_id": "rv-1"})
    reversed_ = client.post(
        "/v1/conversions/R-1/reverse",
        content=body,
        headers={
            "content-type": "application/json",
            "x-forwarded-for": "203.0.113.20",
            SIGNATURE_HEADER: postback_signature(HMAC["generic"], {}, body),
        },
    )
    assert [r.status_code for r in (installed, registered, purchased, reversed_)] == [
        200,
        200,
        200,
        202,
    ]

    events = sent(producer)
    assert [e["type"] for e in events] == [
        "click",
        "install",
        "conversion",
        "conversion",
        "reversal",
    ]
    clicked, install, reg, purchase, reversal = events
    assert len(set(keys(producer))) == 1
    assert keys(producer)[0] == f"v:{clicked['visitor_id']}".encode()
    assert install["click_event_id"] == clicked["event_id"]
    assert install["ctit_seconds"] == 45.0
    assert install["event_id"] == installed.json()["event_id"]
    assert reg["event_name"] == "registration"
    assert reg["install_id"] == purchase["install_id"] == install["event_id"]
    assert (reversal["order_id"], reversal["reason"]) == (purchase["order_id"], "fraud")
    assert "amount" not in reversal  # the whole order
    assert {e["advertiser_id"] for e in events} == {"rocket-app"}
    assert sent(producer, "events.dlq.v1") == []


def test_postbacks_without_a_device_user_agent_are_not_bots(
    client: TestClient, producer: MemoryProducer
) -> None:
    send(client, "appsflyer", postback_params("appsflyer", install_macros("appsflyer", "")))
    assert sent(producer)[0]["context"]["is_bot"] is False

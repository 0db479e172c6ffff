"""The requests a journey sends: what the collector's own parsers make of them."""

from __future__ import annotations

import orjson
import pytest

from services.simulation import wire
from services.simulation.journeys import FLOOD_PARTNER, Journey, Step
from tracker.postbacks import default_presets, map_postback, postback_signature

PRESETS = default_presets()
IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"
CREDS = wire.Credentials()
NOW_S = 1_795_428_000
WEB = Journey("j1", "acme-shop", False, False, "Mozilla/5.0", 0.0, (), "EUR")


def install_call(app: wire.App, device: str) -> wire.MobileCall:
    return wire.MobileCall(app, device, "81.2.69.7", "ps-click-1", install_s=NOW_S,
                           click_s=NOW_S - 3, transaction_id="tx-1", partner_id="mobidream",
                           campaign_id="rocket-ios-install")  # fmt: skip


def purchase_call(app: wire.App, device: str) -> wire.MobileCall:
    return wire.MobileCall(app, device, "81.2.69.7", "ps-click-1", install_s=NOW_S,
                           event_name="purchase", event_s=NOW_S + 60, revenue_minor=1299,
                           order_id="o-1", transaction_id="tx-2")  # fmt: skip


@pytest.mark.parametrize(
    ("location", "click_id"),
    [
        ("https://shop.example.com/summer-sale?utm_source=partners&clickid=abc", "abc"),
        ("https://www.example.com/newsletter?ps_click=def#signup", "def"),
        ("https://shop.example.com/", None),
        (None, None),
    ],
)
def test_the_click_id_is_read_from_either_registry_parameter(
    location: str | None, click_id: str | None
) -> None:
    assert wire.click_id_from_location(location) == click_id


@pytest.mark.parametrize(("minor", "major"), [(0, "0.00"), (5, "0.05"), (1299, "12.99")])
def test_major_units(minor: int, major: str) -> None:
    assert wire.major_units(minor) == major


def test_flood_clicks_are_marked_in_sub1_and_others_are_not() -> None:
    flood = wire.click(WEB, Step("click", 0.0, FLOOD_PARTNER, "rocket-ios-install"), "UA")
    honest = wire.click(WEB, Step("click", 0.0, "coupon-hub", "acme-summer-sale"), "UA")
    assert flood.params == {"sub1": "flood"}
    assert honest.params == {}
    assert honest.path == "/c/coupon-hub/acme-summer-sale"
    assert honest.expected == {302}


IOS, ANDROID = wire.APPS["rocket-ios-install"], wire.APPS["rocket-android-install"]


@pytest.mark.parametrize(("app", "device"), [(IOS, IDFA), (ANDROID, GAID)])
@pytest.mark.parametrize("mmp", ["appsflyer", "branch"])
def test_an_install_postback_maps_to_the_install_it_describes(
    mmp: wire.Mmp, app: wire.App, device: str
) -> None:
    out = wire.mmp_postback(mmp, install_call(app, device), CREDS)
    assert (out.path, out.kind) == (f"/v1/postback/{mmp}", "install")
    mapped = map_postback(PRESETS[mmp], out.params)
    assert mapped.kind == "install"
    assert (mapped.device_id, mapped.app_id, mapped.click_id) == (device, app.app_id, "ps-click-1")
    assert mapped.install_ts_ms == NOW_S * 1000
    assert mapped.click_ts_ms == (NOW_S - 3) * 1000  # a 3 s CTIT: click injection
    assert mapped.partner_id == "mobidream"
    assert mapped.device_ip == "81.2.69.7"


@pytest.mark.parametrize("mmp", ["appsflyer", "branch"])
def test_an_in_app_postback_maps_to_the_event_it_describes(mmp: wire.Mmp) -> None:
    out = wire.mmp_postback(mmp, purchase_call(wire.APPS["rocket-ios-install"], IDFA), CREDS)
    mapped = map_postback(PRESETS[mmp], out.params)
    assert (mapped.kind, mapped.event_name, out.kind) == ("event", "purchase", "in_app")
    assert (mapped.revenue_minor, mapped.currency, mapped.order_id) == (1299, "USD", "o-1")
    assert mapped.event_ts_ms == (NOW_S + 60) * 1000
    assert mapped.device_id == IDFA


def test_appsflyer_postbacks_carry_the_token_and_an_allowlisted_sender() -> None:
    out = wire.appsflyer_postback(install_call(wire.APPS["rocket-ios-install"], IDFA), CREDS)
    assert out.params["token"] == "dev-rocket-appsflyer-token"
    assert out.headers == {"x-forwarded-for": "192.0.2.10"}


def test_branch_postbacks_are_signed_over_their_sorted_query() -> None:
    out = wire.branch_postback(install_call(wire.APPS["rocket-android-install"], GAID), CREDS)
    expected = postback_signature(b"dev-rocket-branch-hmac-secret", out.params, b"")
    assert out.headers == {wire.SIGNATURE_HEADER: expected}


def test_a_deliberately_bad_conversion_has_an_invalid_currency_and_says_so() -> None:
    step = Step("conversion", 60.0, event_name="purchase", revenue=4999, order_id="o-j1")
    good = wire.sdk_conversion(WEB, step, now_ms=NOW_S * 1000, click_id="c1", visitor_id=None,
                               user_agent="UA", bad=False, credentials=CREDS)  # fmt: skip
    bad = wire.pixel_conversion(WEB, step, click_id=None, user_agent="UA", bad=True,
                                credentials=CREDS)  # fmt: skip
    [event] = orjson.loads(good.body)["events"]
    assert event == {"type": "conversion", "ts": NOW_S * 1000, "event_name": "purchase",
                     "order_id": "o-j1", "revenue": 4999, "currency": "EUR",
                     "click_id": "c1"}  # fmt: skip
    assert good.headers["authorization"] == "Bearer dev-acme-write-key"
    assert not good.deliberately_bad
    assert bad.deliberately_bad
    assert bad.params == {"key": "dev-acme-write-key", "event": "purchase", "order_id": "o-j1",
                          "amount": "49.99", "currency": wire.BAD_CURRENCY}  # fmt: skip


def test_a_conversion_without_a_click_id_names_the_visitor() -> None:
    step = Step("conversion", 60.0, event_name="purchase", revenue=100, order_id="o-j1")
    out = wire.sdk_conversion(WEB, step, now_ms=0, click_id=None, visitor_id="v-1",
                              user_agent="UA", bad=False, credentials=CREDS)  # fmt: skip
    [event] = orjson.loads(out.body)["events"]
    assert event["visitor_id"] == "v-1"
    assert "click_id" not in event


@pytest.mark.parametrize(
    ("amount", "body_extra"), [(None, {}), (250, {"amount": 250, "currency": "EUR"})]
)
def test_a_reversal_is_a_server_call_with_the_shops_token(
    amount: int | None, body_extra: dict[str, object]
) -> None:
    step = Step("reversal", 3600.0, order_id="o-j1", reversed_amount=amount)
    out = wire.reversal(WEB, step, click_id="c1", credentials=CREDS)
    assert out.path == "/v1/conversions/o-j1/reverse"
    assert out.expected == {202}
    assert out.headers["authorization"] == "Bearer dev-acme-generic-postback-token"
    assert orjson.loads(out.body) == {"reason": "returned", "reversal_id": "rv-j1",
                                      "click_id": "c1", **body_extra}  # fmt: skip


@pytest.mark.parametrize(
    ("mobile", "campaign", "expected"),
    [(True, "rocket-ios-install", "ABC-DEF"), (True, "rocket-android-install", "abc-def"),
     (False, "acme-summer-sale", "abc-def")],
)  # fmt: skip
def test_device_ids_are_spelled_as_their_platform_does(
    mobile: bool, campaign: str, expected: str
) -> None:
    journey = Journey("j", "x", mobile, False, "UA", 0.0, (Step("click", 0.0, "p", campaign),))
    assert wire.device_id_for(journey, "aBc-DeF") == expected

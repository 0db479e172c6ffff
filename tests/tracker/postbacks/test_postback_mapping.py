"""map_postback over every preset: one install and one in-app event per vendor, each event
with revenue in a currency whose minor unit is not 1/100, then the failure cases."""

from __future__ import annotations

from typing import Any

import pytest
from postback_samples import (
    ANDROID_ID,
    CLICK_S,
    GAID,
    INSTALL_S,
    IOS_IDFA,
    IOS_IDFV,
    TOKEN,
    ZERO_IDFA,
    render,
)

from tracker.postbacks import (
    MappedPostback,
    PostbackMalformed,
    ctit_seconds,
    default_presets,
    load_presets_yaml,
    map_postback,
)

PRESETS = default_presets()

# Macros are filled the way each vendor documents them (sources in presets.yaml): AppsFlyer
# sends the install as epoch seconds and click / event times as UTC datetimes with
# milliseconds, Adjust epoch seconds, Branch epoch milliseconds and upper-case OS names.
CASES: list[tuple[str, str, dict[str, str], dict[str, str], dict[str, Any]]] = [
    (
        "appsflyer", "install-ios",
        {"(clickid)": "ps_7Hq2kX9", "(idfa)": IOS_IDFA, "(vendorId)": IOS_IDFV,
         "(ip)": "203.0.113.77", "(app-id)": "id1234567890", "(af_siteid)": "partner-42",
         "(af_c_id)": "cmp-summer", "(campaign)": "summer_sale",
         "(install-unix-ts)": str(INSTALL_S), "(click-ts)": "2024-05-01 10:00:00.250",
         "(event-name)": "install", "(timestamp)": "2024-05-01 10:00:45.000",
         "(currency)": "USD", "(customer-user-id)": "user-981"},
        {},
        {"kind": "install", "event_name": "install", "click_id": "ps_7Hq2kX9",
         "device_id": IOS_IDFA, "device_id_type": "idfa", "idfv": IOS_IDFV,
         "device_ip": "203.0.113.77", "revenue_minor": None, "currency": "USD",
         "install_ts_ms": INSTALL_S * 1000, "click_ts_ms": CLICK_S * 1000 + 250,
         "app_id": "id1234567890", "partner_id": "partner-42", "campaign_id": "cmp-summer",
         "customer_id": "user-981", "platform": "ios", "transaction_id": None},
    ),
    (
        "appsflyer", "purchase-android-kwd",
        {"(clickid)": "ps_8Jr3mY0", "(advertiserId)": GAID, "(android-id)": ANDROID_ID,
         "(app-id)": "com.example.shop", "(af_siteid)": "partner-42",
         "(event-name)": "af_purchase", "(monetary)": "4.13", "(orig-monetary)": "1.250",
         "(currency)": "KWD", "(timestamp)": "2024-05-01 10:15:30.137",
         "(install-unix-ts)": str(INSTALL_S), "(click-ts)": "2024-05-01 10:00:00.000"},
        {},
        {"kind": "event", "event_name": "af_purchase", "device_id": GAID,
         "device_id_type": "gaid", "revenue_minor": 1250, "currency": "KWD",
         "event_ts_ms": 1714558530137, "install_ts_ms": INSTALL_S * 1000,
         "click_ts_ms": CLICK_S * 1000, "order_id": None, "platform": "android", "idfv": None},
    ),
    (
        "adjust", "install-android",
        {"{label}": "ps_adj_001", "{gps_adid}": GAID, "{activity_kind}": "install",
         "{installed_at}": str(INSTALL_S), "{click_time}": str(CLICK_S),
         "{created_at}": str(INSTALL_S), "{app_id}": "com.example.game", "{os_name}": "android",
         "{network_name}": "Partnerstream", "{campaign_name}": "summer_sale",
         "{ip_address}": "2001:db8::7", "{android_id}": ANDROID_ID},
        {},
        {"kind": "install", "event_name": "install", "click_id": "ps_adj_001",
         "device_id": GAID, "device_id_type": "gaid", "device_ip": "2001:db8::7",
         "install_ts_ms": INSTALL_S * 1000, "click_ts_ms": CLICK_S * 1000,
         "app_id": "com.example.game", "partner_id": "Partnerstream",
         "campaign_id": "summer_sale", "platform": "android", "transaction_id": None},
    ),
    (
        "adjust", "purchase-ios-jpy-att-denied",
        {"{label}": "ps_adj_002", "{idfa}": ZERO_IDFA, "{idfv}": IOS_IDFV.lower(),
         "{activity_kind}": "event", "{event}": "abc123", "{event_name}": "purchase",
         "{revenue_float}": "1200", "{currency}": "jpy", "{created_at}": "1714560000",
         "{installed_at}": str(INSTALL_S), "{os_name}": "ios", "{app_id}": "1234567890"},
        {"user_id": "user-77", "order_id": "A-5531"},  # app callback parameters
        {"kind": "event", "event_name": "purchase", "device_id": IOS_IDFV,
         "device_id_type": "idfv", "idfv": IOS_IDFV, "revenue_minor": 1200, "currency": "JPY",
         "event_ts_ms": 1714560000000, "transaction_id": None, "customer_id": "user-77",
         "order_id": "A-5531", "platform": "ios", "app_id": "1234567890"},
    ),
    (
        "branch", "install-android",
        {"${(last_attributed_touch_data.~click_id)!}": "ps_br_01",
         "${(user_data.aaid)!}": GAID, "${(user_data.android_id)!}": ANDROID_ID,
         "${(user_data.ip)!}": "198.51.100.23", "${(name)!}": "INSTALL",
         "${(event_timestamp)!}": "1714557645123",
         "${(last_attributed_touch_timestamp)!}": "1714557600000",
         "${(id)!}": "1261537895543453920", "${(user_data.os)!}": "ANDROID",
         "${(bundle.ios.bundle_id)!}": "com.example.game.ios",
         "${(bundle.android.package_name)!}": "com.example.game",
         "${(last_attributed_touch_data.~campaign_id)!}": "cmp-9",
         "${(last_attributed_touch_data.~secondary_publisher)!}": "partner-7"},
        {},
        {"kind": "install", "event_name": "install", "click_id": "ps_br_01",
         "device_id_type": "gaid", "install_ts_ms": 1714557645123,
         "click_ts_ms": 1714557600000, "transaction_id": "1261537895543453920",
         "platform": "android", "partner_id": "partner-7", "campaign_id": "cmp-9",
         "app_id": "com.example.game"},
    ),
    (
        "branch", "purchase-ios-bhd",
        {"${(user_data.idfa)!}": IOS_IDFA.lower(), "${(user_data.idfv)!}": IOS_IDFV,
         "${(name)!}": "PURCHASE",
         "${(event_data.revenue)!}": "2.5", "${(event_data.currency)!}": "BHD",
         "${(event_timestamp)!}": "1714561200000", "${(id)!}": "1261537895543453999",
         "${(event_data.transaction_id)!}": "ord-77", "${(user_data.os)!}": "IOS",
         "${(bundle.ios.bundle_id)!}": "com.example.game.ios",
         "${(bundle.android.package_name)!}": "com.example.game",
         "${(user_data.developer_identity)!}": "user-5"},
        {},
        {"kind": "event", "event_name": "PURCHASE", "device_id": IOS_IDFA, "idfv": IOS_IDFV,
         "revenue_minor": 2500, "currency": "BHD", "install_ts_ms": None,
         "event_ts_ms": 1714561200000, "transaction_id": "1261537895543453999",
         "order_id": "ord-77", "customer_id": "user-5", "platform": "ios",
         "app_id": "com.example.game.ios"},
    ),
    (
        "kochava", "install-ios",
        {"{click_id}": "ps_ko_1", "{idfa}": IOS_IDFA, "{device_ip}": "192.0.2.10",
         "{event_name}": "_install", "{install_date}": str(INSTALL_S),
         "{click_date}": str(CLICK_S), "{event_id}": "ko-ev-1", "{app_id}": "koexample-ios",
         "{site_id}": "partner-3", "{network_name}": "Partnerstream",
         "{campaign_id}": "ko-cmp", "{device_os}": "iOS"},
        {},
        {"kind": "install", "event_name": "install", "click_id": "ps_ko_1",
         "device_id_type": "idfa", "install_ts_ms": INSTALL_S * 1000,
         "click_ts_ms": CLICK_S * 1000, "transaction_id": "ko-ev-1", "platform": "ios",
         "partner_id": "partner-3"},
    ),
    (
        "kochava", "purchase-android-krw",
        {"{adid}": GAID, "{event_name}": "Purchase", "{revenue}": "15000",
         "{currency}": "KRW", "{event_time}": "2024-05-01 13:26:40", "{event_id}": "ko-ev-2",
         "{user_id}": "u-1", "{order_id}": "K-9", "{device_os}": "Android",
         "{network_name}": "Partnerstream"},
        {},
        {"kind": "event", "event_name": "Purchase", "device_id": GAID, "revenue_minor": 15000,
         "currency": "KRW", "event_ts_ms": 1714570000000, "customer_id": "u-1",
         "order_id": "K-9", "platform": "android", "partner_id": "Partnerstream"},
    ),
    (
        "generic", "install",
        {"CLICK_ID": "ps_gen_1", "IDFA": IOS_IDFA, "EVENT_NAME": "install",
         "INSTALL_TS": "1714557645000", "CLICK_TS": "1714557600000", "PARTNER_ID": "p-1",
         "TRANSACTION_ID": "gen-1", "PLATFORM": "ios"},
        {},
        {"kind": "install", "click_id": "ps_gen_1", "install_ts_ms": 1714557645000,
         "click_ts_ms": 1714557600000, "transaction_id": "gen-1", "partner_id": "p-1"},
    ),
    (
        "generic", "purchase-tnd",
        {"GAID": GAID, "EVENT_NAME": "purchase", "REVENUE": "12.345", "CURRENCY": "tnd",
         "EVENT_TS": "1714570000000", "TRANSACTION_ID": "gen-2"},
        {},
        {"kind": "event", "event_name": "purchase", "revenue_minor": 12345, "currency": "TND",
         "platform": "android"},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "macros", "extra", "expected"),
    [pytest.param(s, m, e, x, id=f"{s}-{name}") for s, name, m, e, x in CASES],
)
def test_vendor_postback_maps(
    source: str, macros: dict[str, str], extra: dict[str, str], expected: dict[str, Any]
) -> None:
    preset = PRESETS[source]
    params = render(preset, macros, extra)
    mapped = map_postback(preset, params)
    assert mapped.source == source
    actual = {name: getattr(mapped, name) for name in expected}
    assert actual == expected
    assert preset.auth_token_param not in mapped.raw
    assert {k: v for k, v in params.items() if k != "token"} == dict(mapped.raw)


def test_every_preset_has_an_install_and_an_event_case() -> None:
    covered = {(s, x["kind"]) for s, _, _, _, x in CASES}
    assert covered == {(s, k) for s in PRESETS for k in ("install", "event")}


def test_appsflyer_ctit_from_the_install_postback() -> None:
    """install-unix-ts is epoch seconds, click-ts a UTC datetime (as AppsFlyer fills them)."""
    macros = {"(install-unix-ts)": str(INSTALL_S), "(click-ts)": "2024-05-01 10:00:00.000"}
    mapped = map_postback(PRESETS["appsflyer"], render(PRESETS["appsflyer"], macros))
    assert ctit_seconds(mapped.click_ts_ms, mapped.install_ts_ms) == 45.0


@pytest.mark.parametrize(
    "click_ts", ["2024-05-01 10:00:00", "2024-05-01 10:00:00.000", str(CLICK_S)]
)
def test_appsflyer_click_time_as_datetime_or_legacy_epoch_seconds(click_ts: str) -> None:
    mapped = map_postback(PRESETS["appsflyer"], {"click_ts": click_ts})
    assert mapped.click_ts_ms == CLICK_S * 1000


def test_the_appsflyer_revenue_is_the_original_currency_value_not_usd() -> None:
    """(orig-monetary) with its (currency), not (monetary), the USD value."""
    macros = {"(event-name)": "af_purchase", "(monetary)": "8.12", "(orig-monetary)": "1200",
              "(currency)": "JPY"}  # fmt: skip
    mapped = map_postback(PRESETS["appsflyer"], render(PRESETS["appsflyer"], macros))
    assert (mapped.revenue_minor, mapped.currency) == (1200, "JPY")


@pytest.mark.parametrize(
    ("value", "expected_ms"),
    [("1714557645", 1714557645000), ("1714557645123", 1714557645123),
     ("1714557645.5", 1714557645500), ("2024-05-01 10:00:45", 1714557645000),
     ("2024-05-01T10:00:45.123", 1714557645123)],
)  # fmt: skip
def test_auto_time_format_tells_seconds_milliseconds_and_datetimes_apart(
    value: str, expected_ms: int
) -> None:
    assert PRESETS["kochava"].time_format("install_time").value == "auto"
    mapped = map_postback(PRESETS["kochava"], {"event_name": "_install", "install_date": value})
    assert mapped.install_ts_ms == expected_ms


@pytest.mark.parametrize("value", ["yesterday", "99999999999999999", "1999-12-31 23:59:59"])
def test_auto_time_format_still_refuses_what_is_no_time_of_this_century(value: str) -> None:
    with pytest.raises(PostbackMalformed) as caught:
        map_postback(PRESETS["kochava"], {"event_name": "_install", "install_date": value})
    assert caught.value.field == "install_time"


@pytest.mark.parametrize(
    ("os", "device", "expected"),
    [("IOS", {"idfa": IOS_IDFA}, "com.example.ios"),
     ("ANDROID", {"aaid": GAID}, "com.example.android"),
     ("", {"aaid": GAID}, "com.example.android"),  # platform from the device id
     ("WINDOWS", {}, None)],
)  # fmt: skip
def test_branch_app_id_is_the_store_id_of_the_postback_platform(
    os: str, device: dict[str, str], expected: str | None
) -> None:
    params = {"name": "INSTALL", "event_timestamp": "1714557645123", "os": os,
              "ios_bundle_id": "com.example.ios", "android_package": "com.example.android",
              **device}  # fmt: skip
    assert map_postback(PRESETS["branch"], params).app_id == expected


def test_an_explicit_app_id_wins_over_the_per_store_ids() -> None:
    params = {"name": "INSTALL", "event_timestamp": "1714557645123", "os": "IOS",
              "app_id": "id1234567890", "ios_bundle_id": "com.example.ios"}  # fmt: skip
    assert map_postback(PRESETS["branch"], params).app_id == "id1234567890"


@pytest.mark.parametrize(
    ("click", "install", "expected"),
    [(1_000, 46_500, 45.5), (10_000, 4_000, -6.0), (None, 5, None), (5, None, None)],
)
def test_ctit_seconds(click: int | None, install: int | None, expected: float | None) -> None:
    assert ctit_seconds(click, install) == expected


# --- normalisation -------------------------------------------------------------------------


def test_unfilled_macros_count_as_absent() -> None:
    params = {
        "idfa": "(idfa)",
        "advertising_id": "",
        "idfv": "{idfv}",
        "android_id": "  ",
        "event_name": "af_login",
        "ip": "${(user_data.ip)!}",
    }
    mapped = map_postback(PRESETS["appsflyer"], params)
    assert (mapped.device_id, mapped.device_id_type, mapped.device_ip) == (None, None, None)
    assert mapped.platform is None


def test_zero_advertising_id_falls_back_to_the_next_identifier() -> None:
    mapped = map_postback(
        PRESETS["generic"],
        {
            "event_name": "install",
            "idfa": ZERO_IDFA,
            "gaid": ZERO_IDFA,
            "android_id": "ABCDEF0123456789",
        },
    )
    assert (mapped.device_id, mapped.device_id_type) == ("abcdef0123456789", "android_id")
    assert mapped.platform == "android"


def test_alias_parameter_is_read_when_the_first_name_is_absent() -> None:
    mapped = map_postback(
        PRESETS["appsflyer"],
        {"click_id": "old-template", "currency": "EUR", "event_name": "x", "event_revenue": "3"},
    )
    assert (mapped.click_id, mapped.currency, mapped.revenue_minor) == ("old-template", "EUR", 300)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("9.995", "USD", 1000), ("9.994", "USD", 999), ("1200.4", "JPY", 1200),
     ("0.0005", "OMR", 1), ("7", "JOD", 7000), ("0", "EUR", 0)],
)  # fmt: skip
def test_revenue_uses_the_currency_exponent_and_rounds_half_up(
    amount: str, currency: str, minor: int
) -> None:
    params = {"event_name": "purchase", "revenue": amount, "currency": currency}
    assert map_postback(PRESETS["generic"], params).revenue_minor == minor


def test_dedup_key_prefers_the_vendor_event_id_and_is_stable_otherwise() -> None:
    preset = PRESETS["generic"]
    with_id = map_postback(preset, {"event_name": "install", "transaction_id": "t-1"})
    assert with_id.dedup_key == "generic:t-1"
    a = map_postback(preset, {"event_name": "install", "click_id": "c", "token": "x"})
    b = map_postback(preset, {"click_id": "c", "event_name": "install", "token": "x"})
    c = map_postback(preset, {"event_name": "install", "click_id": "d", "token": "x"})
    assert a.dedup_key == b.dedup_key != c.dedup_key
    assert a.dedup_key.startswith("generic:sha256:")


def test_a_new_vendor_is_configuration(tmp_path: Any) -> None:
    presets = load_presets_yaml(
        """
        version: 1
        presets:
          acme:
            vendor: Acme MMP
            params:
              click_id: cid
              event_name: ev
              revenue: amount_minor
              currency: cur
              install_time: installed
            revenue_units: minor
            time_formats: {install_time: datetime_utc}
            kind: {install_values: [first_open], when_missing: error}
            auth: {token_param: key}
        """
    )
    acme = presets["acme"]
    install = map_postback(
        acme, {"cid": "c1", "ev": "FIRST_OPEN", "installed": "2024-05-01 10:00:45", "key": "secret"}
    )
    assert (install.kind, install.install_ts_ms) == ("install", INSTALL_S * 1000)
    assert "key" not in install.raw
    event = map_postback(acme, {"ev": "purchase", "amount_minor": "1250", "cur": "KWD"})
    assert (event.kind, event.revenue_minor, event.currency) == ("event", 1250, "KWD")


def test_mapped_postback_is_frozen() -> None:
    mapped = map_postback(PRESETS["generic"], {"event_name": "install", "token": TOKEN})
    assert isinstance(mapped, MappedPostback)
    with pytest.raises(AttributeError):
        mapped.kind = "event"  # type: ignore[misc]
    with pytest.raises(TypeError):
        mapped.raw["x"] = "y"  # type: ignore[index]


# --- errors name the field -----------------------------------------------------------------

ERRORS = [
    ("generic", {"event_name": "purchase", "revenue": "12,99", "currency": "EUR"}, "revenue",
     "plain decimal"),
    ("generic", {"event_name": "purchase", "revenue": "1e3", "currency": "EUR"}, "revenue",
     "plain decimal"),
    ("generic", {"event_name": "purchase", "revenue": "-5", "currency": "EUR"}, "revenue",
     "negative"),
    ("generic", {"event_name": "purchase", "revenue": "5"}, "currency", "missing"),
    ("generic", {"event_name": "purchase", "currency": "EURO"}, "currency", "three-letter"),
    ("generic", {"event_name": "install", "idfa": "not-a-uuid"}, "idfa", "not a UUID"),
    ("generic", {"event_name": "install", "gaid": "12345"}, "gaid", "not a UUID"),
    ("generic", {"event_name": "install", "device_ip": "999.1.1.1"}, "device_ip",
     "not an IP"),
    ("generic", {"event_name": "install", "install_ts": "1714557645"}, "install_time",
     "outside 2000-2100"),
    ("generic", {"event_name": "install", "click_ts": "1714557600000.5"}, "click_time",
     "not epoch_ms"),
    ("appsflyer", {"install_unix_ts": "1714557645000"}, "install_time", "wrong unit"),
    ("appsflyer", {"event_name": "x", "event_time": "01/05/2024 10:00"}, "event_time",
     "YYYY-MM-DD"),
    ("adjust", {"event_name": "purchase"}, "kind", "activity_kind is missing"),
    ("adjust", {"activity_kind": "{activity_kind}"}, "kind", "activity_kind is missing"),
    ("generic", {"click_id": "c"}, "kind", "event_name is missing"),
    ("kochava", {"event_name": "Purchase", "revenue": "10", "currency": "KRW",
                 "install_date": "yesterday"}, "install_time", "YYYY-MM-DD"),
    ("appsflyer", {"click_ts": "15/07/2019 10:56"}, "click_time", "YYYY-MM-DD"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "params", "field", "message"),
    ERRORS,
    ids=[f"{s}-{f}-{m}" for s, _, f, m in ERRORS],
)
def test_malformed_postback_names_the_field(
    source: str, params: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(PostbackMalformed, match=message) as caught:
        map_postback(PRESETS[source], params)
    assert caught.value.field == field
    assert caught.value.status_code == 400
    assert caught.value.reason == "postback_malformed"


def test_error_message_names_the_vendor_parameter() -> None:
    with pytest.raises(PostbackMalformed, match="'event_revenue'"):
        map_postback(
            PRESETS["appsflyer"],
            {"event_name": "x", "event_revenue": "abc", "event_revenue_currency": "USD"},
        )

"""tracker.mobile: deterministic ids, app ownership, click checks, CTIT, fraud flags, and the
Install / Conversion events built from MMP, SKAdNetwork and AdAttributionKit postbacks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.events import AppleAttribution, Conversion, Install
from tracker.apple import AakPostback, SkanPostback
from tracker.click_ids import SecretRing, mint_click_id
from tracker.errors import RegistryInvalid, UnknownApp
from tracker.mobile import (
    NAMESPACE,
    AppDirectory,
    ClickCheck,
    PostbackContext,
    app_key,
    check_click_id,
    conversion_from_postback,
    event_from_postback,
    install_from_aak,
    install_from_postback,
    install_from_skan,
    install_id_for,
    normalise_event_name,
    postback_event_id,
)
from tracker.network import NetworkSet
from tracker.postbacks import FraudRules, MappedPostback, PostbackMalformed, default_presets
from tracker.postbacks import map_postback as _map
from tracker.registry import parse_registry

NOW_MS = 1_795_428_000_000  # 2026-11-23T10:00:00Z
IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
RING = SecretRing.of([(1, "a-test-click-secret-0001")])
RULES = FraudRules(min_ctit_s=10.0, datacenter_networks=NetworkSet.compile(["52.0.0.0/8"]))


def generic(**params: str) -> MappedPostback:
    """A postback in our generic format (times in epoch ms)."""
    return _map(default_presets()["generic"], params)


def context(
    click: ClickCheck | None = None, app_id: str | None = "id1234567890", rules: FraudRules = RULES
) -> PostbackContext:
    return PostbackContext(
        advertiser_id="rocket-app",
        app_id=app_id,
        received_at_ms=NOW_MS,
        click=click or ClickCheck(),
        rules=rules,
        partner_ids=frozenset({"mobidream"}),
        campaign_ids=frozenset({"rocket-ios-install"}),
    )


def install_params(**extra: str) -> dict[str, str]:
    return {
        "event_name": "install",
        "idfa": IDFA,
        "app_id": "id1234567890",
        "install_ts": str(NOW_MS),
        "click_ts": str(NOW_MS - 45_000),
        "transaction_id": "gen-1",
        **extra,
    }


# --- ids ---------------------------------------------------------------------------------------


def test_postback_event_ids_are_uuid5_of_source_advertiser_and_dedup_key() -> None:
    first = postback_event_id("appsflyer", "rocket-app", "appsflyer:ev-1")
    assert first == str(uuid.uuid5(NAMESPACE, "appsflyer:rocket-app:appsflyer:ev-1"))
    assert first == postback_event_id("appsflyer", "rocket-app", "appsflyer:ev-1")
    others = {
        postback_event_id("adjust", "rocket-app", "appsflyer:ev-1"),
        postback_event_id("appsflyer", "acme-shop", "appsflyer:ev-1"),
        postback_event_id("appsflyer", "rocket-app", "appsflyer:ev-2"),
    }
    assert first not in others
    assert len(others) == 3


def test_install_id_is_per_advertiser_app_and_device() -> None:
    base = install_id_for("rocket-app", "id1", IDFA)
    assert base == str(uuid.uuid5(NAMESPACE, f"install:rocket-app:id1:{IDFA}"))
    assert base != install_id_for("rocket-app", "id2", IDFA)
    assert base != install_id_for("acme-shop", "id1", IDFA)


# --- apps --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("id1234567890", "1234567890"),
        ("ID1234567890", "1234567890"),
        ("net.example.Rocket", "net.example.rocket"),
        (" id42 ", "42"),
    ],
)
def test_app_keys_compare_store_ids_with_and_without_prefix(a: str, b: str) -> None:
    assert app_key(a) == app_key(b)


def test_app_key_keeps_a_package_starting_with_id() -> None:
    assert app_key("idle.game") == "idle.game"


def registry(apps: dict[str, tuple[str, str | None]]) -> Any:
    return parse_registry(
        {
            "advertisers": {
                "acme": {"name": "ACME", "write_keys": ["acme-write-key-0001"]},
                "rocket": {"name": "Rocket", "write_keys": ["rocket-write-key-001"]},
            },
            "campaigns": {
                cid: {"advertiser_id": adv, "landing_url": "https://example.com/", "app_id": app}
                for cid, (adv, app) in apps.items()
            },
        }
    )


def test_app_directory_finds_the_owner_in_the_registry_spelling() -> None:
    apps = AppDirectory.from_registry(
        registry(
            {
                "ios": ("rocket", "id1234567890"),
                "web": ("acme", None),
                "ios-2": ("rocket", "id1234567890"),
            }
        )
    )
    owner = apps.require("1234567890")
    assert (owner.advertiser_id, owner.app_id) == ("rocket", "id1234567890")
    assert apps.owner(None) is None
    assert apps.owner("id9") is None
    with pytest.raises(UnknownApp) as unknown:
        apps.require("id9")
    assert (unknown.value.reason, unknown.value.status_code) == ("app_unknown", 404)
    with pytest.raises(UnknownApp):
        apps.require("id1234567890", advertiser_id="acme")  # not acme's app


def test_app_directory_refuses_one_app_for_two_advertisers() -> None:
    with pytest.raises(RegistryInvalid) as err:
        AppDirectory.from_registry(registry({"a": ("rocket", "id1"), "b": ("acme", "1")}))
    assert err.value.problems[0].startswith("campaigns.b.app_id:")


# --- click ids ---------------------------------------------------------------------------------


def test_a_valid_click_id_is_kept_with_its_time() -> None:
    click_id = mint_click_id(RING, uuid.uuid4(), NOW_MS - 60_000, b"12345678")
    assert check_click_id(click_id, RING, NOW_MS, 86_400_000) == ClickCheck(
        click_id=click_id, click_ts_ms=NOW_MS - 60_000
    )


@pytest.mark.parametrize(
    ("make", "flag"),
    [
        (lambda c: c[:-2] + ("AA" if c[-2:] != "AA" else "BA"), "click_id_tampered"),
        (lambda c: "not-our-click-id", "click_id_malformed"),
        (
            lambda c: mint_click_id(RING, uuid.uuid4(), NOW_MS - 2 * 86_400_000, b"abcdefgh"),
            "click_id_expired",
        ),
    ],
)
def test_a_bad_click_id_is_dropped_with_its_reason(make: Any, flag: str) -> None:
    good = mint_click_id(RING, uuid.uuid4(), NOW_MS, b"12345678")
    assert check_click_id(make(good), RING, NOW_MS, 86_400_000) == ClickCheck(flag=flag)


def test_no_click_id_is_no_flag() -> None:
    assert check_click_id(None, RING, NOW_MS, 1) == ClickCheck()


# --- MMP installs ------------------------------------------------------------------------------


def test_install_gets_the_device_install_id_ctit_and_vendor_ids() -> None:
    mapped = generic(**install_params(partner_id="mobidream", campaign_id="Summer Promo"))
    event = install_from_postback(mapped, context())
    assert isinstance(event, Install)
    assert event.event_id == install_id_for("rocket-app", "id1234567890", IDFA)
    assert event.transaction_id == "gen-1"
    assert event.ctit_seconds == 45.0
    assert event.click_ts == datetime.fromtimestamp((NOW_MS - 45_000) / 1000, tz=UTC)
    assert event.ts == datetime.fromtimestamp(NOW_MS / 1000, tz=UTC)
    assert (event.device_id, event.device_id_type) == (IDFA, "idfa")
    assert event.partner_id == "mobidream"  # a registry partner
    assert event.campaign_id is None  # "Summer Promo" is the vendor's campaign, not ours
    assert (event.sub1, event.sub2) == ("mobidream", "Summer Promo")
    assert event.context.fraud_flags == ()


def test_ctit_falls_back_to_the_click_id_time() -> None:
    mapped = generic(**install_params(click_ts=""))
    click = ClickCheck(click_id="c", click_ts_ms=NOW_MS - 3_600_000)
    assert install_from_postback(mapped, context(click)).ctit_seconds == 3600.0


def test_ctit_uses_the_receive_time_without_install_time() -> None:
    mapped = generic(**install_params(install_ts="", click_ts=str(NOW_MS - 120_000)))
    event = install_from_postback(mapped, context())
    assert event.ctit_seconds == 120.0
    assert event.ts == datetime.fromtimestamp(NOW_MS / 1000, tz=UTC)


@pytest.mark.parametrize(
    ("ctit_ms", "min_s", "stored", "flagged"),
    [
        (45_000, 10.0, 45.0, False),
        (9_000, 10.0, 9.0, True),
        (9_000, 5.0, 9.0, False),
        (10_000, 10.0, 10.0, False),
        (-5_000, 10.0, None, True),
    ],
)
def test_ctit_too_short_is_flagged_with_the_configured_threshold(
    ctit_ms: int, min_s: float, stored: float | None, flagged: bool
) -> None:
    mapped = generic(**install_params(click_ts=str(NOW_MS - ctit_ms)))
    rules = FraudRules(min_ctit_s=min_s)
    event = install_from_postback(mapped, context(rules=rules))
    assert event.ctit_seconds == stored
    assert ("ctit_too_short" in event.context.fraud_flags) is flagged


def test_datacenter_device_ip_and_bad_click_id_are_flagged() -> None:
    mapped = generic(**install_params(device_ip="52.14.1.9"))
    event = install_from_postback(mapped, context(ClickCheck(flag="click_id_tampered")))
    assert event.context.fraud_flags == ("datacenter_ip", "click_id_tampered")
    assert event.click_id is None


def test_install_without_device_is_keyed_by_its_dedup_key() -> None:
    mapped = generic(**install_params(idfa=""))
    event = install_from_postback(mapped, context())
    assert event.event_id == postback_event_id("generic", "rocket-app", "generic:gen-1")


def test_install_without_app_is_malformed() -> None:
    with pytest.raises(PostbackMalformed) as err:
        install_from_postback(generic(**install_params()), context(app_id=None))
    assert err.value.field == "app_id"


# --- MMP in-app events -------------------------------------------------------------------------


def test_in_app_event_links_to_the_install_of_its_device() -> None:
    install = event_from_postback(generic(**install_params()), context())
    purchase = event_from_postback(
        generic(
            event_name="Purchase Complete",
            idfa=IDFA.lower(),
            app_id="id1234567890",
            event_ts=str(NOW_MS + 600_000),
            revenue="4.99",
            currency="usd",
            order_id="R-1",
            transaction_id="gen-2",
        ),
        context(),
    )
    assert isinstance(purchase, Conversion)
    assert purchase.install_id == install.event_id
    assert purchase.event_id == postback_event_id("generic", "rocket-app", "generic:gen-2")
    assert (purchase.event_name, purchase.revenue, purchase.currency, purchase.order_id) == (
        "purchase_complete",
        499,
        "USD",
        "R-1",
    )
    assert purchase.ts == datetime.fromtimestamp((NOW_MS + 600_000) / 1000, tz=UTC)


def test_in_app_event_without_app_or_device_has_no_install() -> None:
    mapped = generic(event_name="level_up", customer_id="u-1", transaction_id="t-9")
    event = conversion_from_postback(mapped, context(app_id=None))
    assert event.install_id is None
    assert event.customer_id == "u-1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("af_purchase", "af_purchase"),
        ("PURCHASE", "purchase"),
        ("Registration Complete", "registration_complete"),
        ("  level-up!! ", "level-up"),
        ("x" * 80, "x" * 64),
        ("café au lait", "caf_au_lait"),
    ],
)
def test_event_names_are_normalised(name: str, expected: str) -> None:
    assert normalise_event_name(name) == expected


def test_event_name_without_usable_character_is_malformed() -> None:
    with pytest.raises(PostbackMalformed):
        normalise_event_name("!!!")


# --- Apple -------------------------------------------------------------------------------------


def skan(**changes: Any) -> SkanPostback:
    fields: dict[str, Any] = {
        "version": "4.0",
        "ad_network_id": "example123.skadnetwork",
        "source_identifier": "5239",
        "campaign_id": None,
        "app_id": 525463029,
        "transaction_id": "tx-1",
        "redownload": False,
        "source_app_id": None,
        "source_domain": "example.com",
        "fidelity_type": 1,
        "did_win": True,
        "postback_sequence_index": 0,
        "conversion_value": 63,
        "coarse_conversion_value": "high",
        "attribution_signature": "sig",
    }
    return SkanPostback(**{**fields, **changes})


def test_skan_install_fields() -> None:
    event = install_from_skan(
        skan(), advertiser_id="rocket-app", app_id="id525463029", received_at_ms=NOW_MS
    )
    assert event.event_id == postback_event_id("skan", "rocket-app", "tx-1:0")
    assert (event.app_id, event.transaction_id, event.source_identifier) == (
        "id525463029",
        "tx-1",
        "5239",
    )
    assert (event.conversion_value, event.coarse_conversion_value) == (63, "high")
    assert (event.sub1, event.sub2, event.sub3, event.sub4, event.sub5) == (
        "example123.skadnetwork",
        "0",
        "true",
        "example.com",
        "download",
    )
    assert event.apple == AppleAttribution(
        ad_network_id="example123.skadnetwork",
        postback_sequence_index=0,
        did_win=True,
        source_app_id=None,
        source_domain="example.com",
        conversion_type="download",
        interaction_type="click",
    )
    assert event.apple.counts_as_install
    assert event.device_id is None
    assert event.partition_key() == f"e:{event.event_id}"


@pytest.mark.parametrize(
    ("changes", "counts"),
    [({}, True), ({"postback_sequence_index": 1}, False), ({"did_win": False}, False),
     ({"did_win": None, "postback_sequence_index": None, "version": "2.2"}, True)],
)  # fmt: skip
def test_only_the_first_won_skan_postback_counts_as_the_install(
    changes: dict[str, Any], counts: bool
) -> None:
    event = install_from_skan(skan(**changes), advertiser_id="a", app_id="1", received_at_ms=NOW_MS)
    assert event.apple is not None
    assert event.apple.counts_as_install is counts


@pytest.mark.parametrize(("fidelity", "interaction"), [(1, "click"), (0, "view"), (None, None)])
def test_skan_fidelity_type_is_the_interaction_type(
    fidelity: int | None, interaction: str | None
) -> None:
    event = install_from_skan(
        skan(fidelity_type=fidelity), advertiser_id="a", app_id="1", received_at_ms=NOW_MS
    )
    assert event.apple is not None
    assert event.apple.interaction_type == interaction


def test_skan_sequence_indexes_are_distinct_postbacks_and_retries_are_not() -> None:
    def event_id(**changes: Any) -> str | None:
        return install_from_skan(
            skan(**changes), advertiser_id="a", app_id="1", received_at_ms=NOW_MS
        ).event_id

    assert event_id() == event_id(conversion_value=1)  # unsigned value: still the same one
    assert len({event_id(postback_sequence_index=i) for i in (0, 1, 2)}) == 3


def test_skan_2_x_install_has_no_sequence_or_win() -> None:
    event = install_from_skan(
        skan(
            version="2.1",
            source_identifier="42",
            campaign_id=42,
            source_app_id=1234567891,
            source_domain=None,
            fidelity_type=None,
            did_win=None,
            postback_sequence_index=None,
            coarse_conversion_value=None,
            redownload=True,
        ),
        advertiser_id="rocket-app",
        app_id="id525463029",
        received_at_ms=NOW_MS,
    )
    assert event.event_id == postback_event_id("skan", "rocket-app", "tx-1")
    assert (event.sub2, event.sub3, event.sub4, event.sub5) == (
        "0",
        None,
        "1234567891",
        "redownload",
    )
    assert event.apple is not None
    assert (event.apple.postback_sequence_index, event.apple.did_win) == (0, None)
    assert (event.apple.source_app_id, event.apple.source_domain) == (1234567891, None)
    assert (event.apple.conversion_type, event.apple.interaction_type) == ("redownload", None)


def test_aak_install_fields() -> None:
    postback = AakPostback(
        postback_identifier="85546EB7-FD39-44BC-8990-C98A4AC36A49",
        ad_network_identifier="development.adattributionkit",
        source_identifier="1234",
        advertised_item_identifier=10738027756,
        impression_type="app-impression",
        conversion_type="re-engagement",
        did_win=True,
        postback_sequence_index=0,
        publisher_item_identifier=0,
        marketplace_identifier="com.apple.AppStore",
        conversion_value=24,
        coarse_conversion_value=None,
        ad_interaction_type="click",
        country_code="US",
        kid="apple-development-identifier/1",
    )
    event = install_from_aak(
        postback, advertiser_id="rocket-app", app_id="id10738027756", received_at_ms=NOW_MS
    )
    assert event.event_id == postback_event_id(
        "aak", "rocket-app", "85546EB7-FD39-44BC-8990-C98A4AC36A49"
    )
    assert (event.transaction_id, event.source_identifier, event.conversion_value) == (
        "85546EB7-FD39-44BC-8990-C98A4AC36A49",
        "1234",
        24,
    )
    assert (event.sub1, event.sub2, event.sub3, event.sub4, event.sub5) == (
        "development.adattributionkit",
        "0",
        "true",
        "0",
        "re-engagement",
    )
    assert event.apple == AppleAttribution(
        ad_network_id="development.adattributionkit",
        postback_sequence_index=0,
        did_win=True,
        source_app_id=0,
        conversion_type="re-engagement",
        interaction_type="click",
    )

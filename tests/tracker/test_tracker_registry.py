"""tracker.registry: parsing, validation paths, lookups, the example file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from attribution.contracts import load_contracts
from tracker.errors import RegistryInvalid, Unauthorized, UnknownCampaign, UnknownPartner
from tracker.network import ip_in_networks
from tracker.registry import Registry, load_registry, parse_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "registry.example.yaml"

BASE: dict[str, Any] = {
    "advertisers": {
        "acme": {
            "name": "ACME",
            "write_keys": ["acme-write-key-0001", "acme-write-key-0002"],
            "read_keys": ["acme-read-key-00001"],
            "allowed_origins": ["https://shop.example.com", "http://localhost:8000/"],
            "postback_sources": {
                "appsflyer": {"token": "appsflyer-token-0001", "allowed_cidrs": ["192.0.2.0/24"]},
                "branch": {"hmac_secret": "branch-hmac-secret-01"},
            },
        },
        "rocket": {"name": "Rocket", "write_keys": ["rocket-write-key-001"], "currency": "USD"},
    },
    "campaigns": {
        "summer": {
            "advertiser_id": "acme",
            "landing_url": "https://shop.example.com/summer",
            "allowed_redirect_domains": ["*.example.com"],
        },
        "ios": {
            "advertiser_id": "rocket",
            "landing_url": "https://rocket.example.net/ios",
            "app_id": "id123",
        },
    },
    "partners": {
        "coupons": {"partner_type": "affiliate", "name": "Coupons"},
        "mia": {"partner_type": "influencer", "name": "Mia"},
    },
    "contracts": [{"id": "c1", "payout": {"type": "cpa", "amount": "1.00"}, "anything": [1, 2]}],
}


def data(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes applied, e.g. data(**{"campaigns.summer.landing_url": x})."""
    out = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return out


@pytest.fixture(scope="module")
def registry() -> Registry:
    return parse_registry(BASE)


def test_parse_fills_ids_from_keys_and_defaults(registry: Registry) -> None:
    assert registry.advertiser("acme").id == "acme"
    assert registry.advertiser("acme").currency == "EUR"
    assert registry.advertiser("rocket").currency == "USD"
    assert registry.campaign("summer").advertiser_id == "acme"
    assert registry.campaign("summer").click_param_name == "clickid"
    assert registry.campaign("ios").app_id == "id123"
    assert registry.partner("mia").partner_type == "influencer"


def test_contracts_pass_through_untouched(registry: Registry) -> None:
    assert registry.contracts == BASE["contracts"]


@pytest.mark.parametrize("key", ["acme-write-key-0001", "acme-write-key-0002"])
def test_write_key_lookup(registry: Registry, key: str) -> None:
    assert registry.advertiser_for_write_key(key).id == "acme"


def test_write_key_lookup_other_advertiser(registry: Registry) -> None:
    assert registry.advertiser_for_write_key("rocket-write-key-001").id == "rocket"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "write_key_missing"),
        ("", "write_key_missing"),
        ("acme-write-key-0003", "write_key_unknown"),
        ("acme-write-key-000", "write_key_unknown"),
        ("acme-read-key-00001", "write_key_unknown"),  # a read key is not a write key
        ("\ud800-lone-surrogate-key", "write_key_unknown"),
    ],
)
def test_write_key_failures(registry: Registry, key: str | None, reason: str) -> None:
    with pytest.raises(Unauthorized) as info:
        registry.advertiser_for_write_key(key)
    assert info.value.reason == reason
    assert info.value.status_code == 401


def test_read_key_lookup(registry: Registry) -> None:
    assert registry.advertiser_for_read_key("acme-read-key-00001").id == "acme"
    with pytest.raises(Unauthorized) as info:
        registry.advertiser_for_read_key("acme-write-key-0001")
    assert info.value.reason == "read_key_unknown"


def test_unknown_ids(registry: Registry) -> None:
    with pytest.raises(UnknownCampaign):
        registry.campaign("nope")
    with pytest.raises(UnknownPartner):
        registry.partner("nope")


def test_secrets_are_hidden(registry: Registry) -> None:
    text = repr(registry) + str(registry.model_dump())
    assert "acme-write-key" not in text
    assert "appsflyer-token" not in text
    assert "branch-hmac" not in text


def test_postback_source_networks(registry: Registry) -> None:
    sources = registry.advertiser("acme").postback_sources
    appsflyer = sources["appsflyer"].networks
    assert appsflyer is not None
    assert ip_in_networks("192.0.2.9", appsflyer)
    assert not ip_in_networks("192.0.3.9", appsflyer)
    assert sources["branch"].networks is None


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://shop.example.com", True),
        ("https://SHOP.example.com:443", True),
        ("http://localhost:8000", True),
        ("http://shop.example.com", False),
        ("https://evil.com", False),
        ("https://shop.example.com.evil.com", False),
        ("null", False),
        (None, False),
    ],
)
def test_allowed_origins(registry: Registry, origin: str | None, allowed: bool) -> None:
    assert registry.advertiser("acme").allows_origin(origin) is allowed


def test_campaign_redirect_url(registry: Registry) -> None:
    campaign = registry.campaign("summer")
    assert campaign.redirect_url(None, "cid") == "https://shop.example.com/summer?clickid=cid"
    assert campaign.redirect_url("https://www.example.com/x", "cid") == (
        "https://www.example.com/x?clickid=cid"
    )


INVALID = [
    # (changes, expected path prefix of the problem)
    ({"campaigns.summer.landing_url": "ftp://shop.example.com/"}, "campaigns.summer.landing_url:"),
    ({"campaigns.summer.landing_url": "//shop.example.com/"}, "campaigns.summer.landing_url:"),
    ({"campaigns.summer.advertiser_id": "ghost"}, "campaigns.summer.advertiser_id:"),
    (
        {"campaigns.summer.allowed_redirect_domains": ["*.com"]},
        "campaigns.summer.allowed_redirect_domains:",
    ),
    ({"campaigns.summer.click_param_name": "a b"}, "campaigns.summer.click_param_name:"),
    ({"campaigns.summer.landing_url": ...}, "campaigns.summer.landing_url:"),
    ({"campaigns.summer.colour": "red"}, "campaigns.summer.colour:"),
    ({"partners.mia.partner_type": "celebrity"}, "partners.mia.partner_type:"),
    ({"partners.mia.id": "other"}, "partners.mia.id:"),
    ({"advertisers.acme.write_keys": []}, "advertisers.acme.write_keys:"),
    ({"advertisers.acme.write_keys": ["short"]}, "advertisers.acme.write_keys:"),
    ({"advertisers.acme.write_keys": [12345678901234567890]}, "advertisers.acme.write_keys.0:"),
    ({"advertisers.acme.currency": "euro"}, "advertisers.acme.currency:"),
    (
        {"advertisers.acme.allowed_origins": ["https://shop.example.com/path"]},
        "advertisers.acme.allowed_origins:",
    ),
    ({"advertisers.acme.allowed_origins": ["*"]}, "advertisers.acme.allowed_origins:"),
    (
        {"advertisers.acme.postback_sources.appsflyer.token": ...},
        "advertisers.acme.postback_sources.appsflyer:",
    ),
    (
        {"advertisers.acme.postback_sources.appsflyer.allowed_cidrs": ["10.0.0.1/8"]},
        "advertisers.acme.postback_sources.appsflyer.allowed_cidrs:",
    ),
    (
        {"advertisers.acme.postback_sources.branch.hmac_secret": "tiny"},
        "advertisers.acme.postback_sources.branch.hmac_secret:",
    ),
    (
        {"advertisers.rocket.write_keys": ["acme-write-key-0001"]},
        "advertisers.rocket.write_keys.0: same key as advertisers.acme.write_keys.0",
    ),
    (
        {"advertisers.acme.read_keys": ["acme-write-key-0001"]},
        "advertisers.acme.read_keys.0: same key as advertisers.acme.write_keys.0",
    ),
    ({"advertisers.Bad Id": {"name": "x", "write_keys": ["k" * 16]}}, "advertisers.Bad Id"),
    ({"contracts": {"not": "a list"}}, "contracts:"),
    ({"contracts": ["not a dict"]}, "contracts.0:"),
    ({"surprise": 1}, "surprise:"),
]


@pytest.mark.parametrize(("changes", "path"), INVALID, ids=[p for _, p in INVALID])
def test_invalid_registries_name_the_bad_path(changes: dict[str, Any], path: str) -> None:
    with pytest.raises(RegistryInvalid) as info:
        parse_registry(data(**changes))
    assert any(problem.startswith(path) for problem in info.value.problems), info.value.problems
    assert info.value.reason == "registry_invalid"


def test_all_problems_are_reported_at_once() -> None:
    bad = data(
        **{
            "campaigns.summer.landing_url": "javascript:alert(1)",
            "partners.mia.partner_type": "celebrity",
        }
    )
    with pytest.raises(RegistryInvalid) as info:
        parse_registry(bad)
    assert len(info.value.problems) == 2


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(RegistryInvalid):
        parse_registry([])  # type: ignore[arg-type]


def test_empty_registry_is_valid() -> None:
    assert parse_registry({}).campaigns == {}


def test_development_placeholders() -> None:
    assert parse_registry(BASE).development_placeholders() == ()
    flagged = parse_registry(
        data(**{"advertisers.rocket.write_keys": ["dev-rocket-write-key"]})
    ).development_placeholders()
    assert flagged == ("advertisers.rocket.write_keys.0",)


# --- files -------------------------------------------------------------------------------


def test_load_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "r.json").write_text(json.dumps(BASE))
    for name in ("r.yaml", "r.json"):
        assert (
            load_registry(tmp_path / name).advertiser_for_write_key("rocket-write-key-001").id
            == "rocket"
        )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "dup.yaml",
            "partners:\n  a: {partner_type: other, name: A}\n  a: {partner_type: b2b, name: B}\n",
        ),
        ("dup.json", '{"partners": {"a": {"partner_type": "other", "name": "A"}, "a": {}}}'),
        ("broken.yaml", "partners: [\n"),
        ("broken.json", "{"),
        ("registry.toml", "x = 1"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(RegistryInvalid) as info:
        load_registry(tmp_path / name)
    assert str(tmp_path / name) in info.value.problems[0]


def test_empty_yaml_file_is_an_empty_registry(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert load_registry(tmp_path / "empty.yaml").advertisers == {}


def test_example_registry_loads_and_has_the_documented_content() -> None:
    registry = load_registry(EXAMPLE)
    assert set(registry.advertisers) == {"acme-shop", "rocket-app"}
    assert registry.advertiser_for_write_key("dev-acme-write-key").id == "acme-shop"
    assert registry.advertiser_for_write_key("dev-rocket-write-key").id == "rocket-app"
    assert {p.partner_type for p in registry.partners.values()} >= {
        "affiliate",
        "influencer",
        "content",
        "b2b",
        "mobile_network",
    }
    assert len(registry.campaigns) >= 4
    assert set(registry.advertiser("rocket-app").postback_sources) == {
        "appsflyer",
        "adjust",
        "branch",
        "kochava",
        "generic",
    }
    # the contracts parse, and the example shows every kind of term
    book = load_contracts(registry.contracts)
    versions = book.versions
    assert any(v.cpa for v in versions)
    assert any(v.revshare_ppm for v in versions)
    assert any(v.cpi for v in versions)
    assert any(v.cpi_plus is not None and v.cpi_plus.event_name == "registration"
               and v.cpi_plus.window_days == 7 for v in versions)  # fmt: skip
    assert any(v.bonus is not None for v in versions)
    assert any(v.monthly_cap for v in versions)
    assert any(v.split.role_weights for v in versions)
    assert any(v.contract_id == "acme-affiliates" and v.version == 2 for v in versions)
    # every secret in the example is a flagged development placeholder
    placeholders = registry.development_placeholders()
    assert "advertisers.acme-shop.write_keys.0" in placeholders
    assert "advertisers.rocket-app.postback_sources.kochava.hmac_secret" in placeholders
    raw = yaml.safe_load(EXAMPLE.read_text())
    secrets = [
        key
        for adv in raw["advertisers"].values()
        for key in [
            *adv["write_keys"],
            *adv.get("read_keys", []),
            *(
                s.get(f)
                for s in adv.get("postback_sources", {}).values()
                for f in ("token", "hmac_secret")
            ),
        ]
        if key is not None
    ]
    assert len(secrets) >= 10
    assert len(placeholders) == len(secrets)
    for campaign in registry.campaigns.values():
        assert campaign.redirect_url(None, "cid").startswith("https://")


def test_skan_ad_networks_map_to_their_partner() -> None:
    registry = load_registry(EXAMPLE)
    owner = registry.partner_for_ad_network("mobidream.skadnetwork")
    assert owner is not None
    assert owner.id == "mobidream"
    assert registry.partner_for_ad_network("unknown.skadnetwork") is None
    assert registry.partner_for_ad_network(None) is None


def test_an_ad_network_owned_twice_is_refused() -> None:
    data = {
        "partners": {
            "a": {"partner_type": "mobile_network", "name": "A", "skan_ad_network_ids": ["x.skan"]},
            "b": {"partner_type": "mobile_network", "name": "B", "skan_ad_network_ids": ["x.skan"]},
        }
    }
    with pytest.raises(RegistryInvalid, match=r"partners\.b\.skan_ad_network_ids"):
        parse_registry(data)

"""The shipped presets file, and the loader's validation of operators' files."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from postback_samples import template_pairs

from tracker.postbacks import PresetInvalid, default_presets, load_presets, load_presets_yaml
from tracker.postbacks.presets import TimeFormat

PRESETS = default_presets()
# Fields the issue asks every vendor preset to map (Branch has no separate install time: an
# install event's own timestamp is the install time).
REQUIRED_FIELDS = {
    "click_id", "idfa", "gaid", "idfv", "event_name", "revenue", "currency", "click_time",
    "transaction_id", "app_id", "partner_id", "campaign_id", "customer_id", "order_id",
    "platform",
}  # fmt: skip


def test_the_five_sources_are_shipped() -> None:
    assert sorted(PRESETS) == ["adjust", "appsflyer", "branch", "generic", "kochava"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_maps_the_required_fields(name: str) -> None:
    preset = PRESETS[name]
    assert set(preset.params) >= REQUIRED_FIELDS
    assert "install_time" in preset.params or "event_time" in preset.params
    assert preset.docs
    assert preset.auth_notes


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_template_sends_only_parameters_the_preset_reads(name: str) -> None:
    preset = PRESETS[name]
    read = {p for names in preset.params.values() for p in names}
    read |= {preset.kind.param, preset.auth_token_param} - {None}
    sent = {param for param, _ in template_pairs(preset)}
    assert sent <= read, f"template parameters nobody reads: {sorted(sent - read)}"
    assert " " not in preset.template


@pytest.mark.parametrize(
    ("name", "install", "click", "units"),
    [
        # AppsFlyer's click-ts arrives as a UTC datetime (older templates: epoch seconds)
        ("appsflyer", TimeFormat.EPOCH_S, TimeFormat.AUTO, "major"),
        ("adjust", TimeFormat.EPOCH_S, TimeFormat.EPOCH_S, "major"),
        ("branch", TimeFormat.EPOCH_MS, TimeFormat.EPOCH_MS, "major"),
        ("kochava", TimeFormat.AUTO, TimeFormat.AUTO, "major"),  # unit not documented
        ("generic", TimeFormat.EPOCH_MS, TimeFormat.EPOCH_MS, "major"),
    ],
)
def test_time_formats_and_revenue_units(
    name: str, install: TimeFormat, click: TimeFormat, units: str
) -> None:
    preset = PRESETS[name]
    assert preset.time_format("install_time") is install
    assert preset.time_format("click_time") is click
    assert preset.revenue_units == units


def test_appsflyer_event_time_is_a_utc_datetime() -> None:
    assert PRESETS["appsflyer"].time_format("event_time") is TimeFormat.DATETIME_UTC
    assert PRESETS["kochava"].time_format("event_time") is TimeFormat.AUTO


def test_install_event_names() -> None:
    assert PRESETS["appsflyer"].kind.when_missing == "install"
    assert PRESETS["adjust"].kind.param == "activity_kind"
    assert "_install" in PRESETS["kochava"].kind.install_values
    assert PRESETS["branch"].kind.install_values == frozenset({"install"})


def test_appsflyer_published_ranges_and_auth_defaults() -> None:
    appsflyer = PRESETS["appsflyer"]
    assert appsflyer.ip_ranges.cidrs == ("45.92.116.0/22", "194.28.46.0/23")
    assert "45.92.119.255" in appsflyer.ip_ranges
    assert "45.92.120.0" not in appsflyer.ip_ranges
    assert appsflyer.auth_token_param == "token"
    assert PRESETS["generic"].auth_signature_header == "X-Partnerstream-Signature"
    for name in ("adjust", "kochava", "generic"):
        assert len(PRESETS[name].ip_ranges) == 0


def test_branch_published_postback_server_addresses() -> None:
    """The 22 single addresses of Branch's webhooks-for-developers allowlist section."""
    branch = PRESETS["branch"].ip_ranges
    assert len(branch) == 22
    assert all(cidr.endswith("/32") for cidr in branch.cidrs)
    assert "52.43.119.253" in branch
    assert "35.160.133.187" in branch
    assert "52.43.119.254" not in branch


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_templates_point_at_the_collector_route(name: str) -> None:
    assert PRESETS[name].template.startswith(f"https://{{collector}}/v1/postback/{name}?")


# Macro spellings each vendor documents (see the sources in presets.yaml): the shipped
# template must use them, not near misses (the former Branch ${(user_data.app_identifier)!},
# AppsFlyer (idfv) or an epoch-read (click-ts)).
DOCUMENTED_MACROS = {
    "appsflyer": ["(idfa)", "(advertiserId)", "(android-id)", "(app-id)", "(ip)", "(campaign)",
                  "(install-unix-ts)", "(click-ts)", "(vendorId)", "(event-name)",
                  "(orig-monetary)", "(currency)", "(timestamp)"],
    "adjust": ["{label}", "{idfa}", "{gps_adid}", "{idfv}", "{activity_kind}", "{event}",
               "{event_name}", "{revenue_float}", "{currency}", "{installed_at}",
               "{click_time}", "{created_at}", "{ip_address}", "{app_id}", "{os_name}",
               "{network_name}", "{campaign_name}", "{android_id}"],
    "branch": ["${(name)!}", "${(id)!}", "${(event_timestamp)!}",
               "${(last_attributed_touch_timestamp)!}", "${(user_data.aaid)!}",
               "${(user_data.idfa)!}", "${(user_data.idfv)!}", "${(user_data.android_id)!}",
               "${(user_data.ip)!}", "${(user_data.os)!}", "${(user_data.developer_identity)!}",
               "${(event_data.revenue)!}", "${(event_data.currency)!}",
               "${(event_data.transaction_id)!}", "${(bundle.ios.bundle_id)!}",
               "${(bundle.android.package_name)!}",
               "${(last_attributed_touch_data.~campaign_id)!}",
               "${(last_attributed_touch_data.~secondary_publisher)!}"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DOCUMENTED_MACROS))
def test_templates_use_the_documented_macro_spellings(name: str) -> None:
    macros = {macro for _, macro in template_pairs(PRESETS[name])}
    assert set(DOCUMENTED_MACROS[name]) <= macros
    assert not macros & {"${(user_data.app_identifier)!}", "(idfv)", "(platform)",
                         "(event_id)", "(af_order_id)"}  # fmt: skip


def _valid() -> dict[str, Any]:
    return {"version": 1, "presets": {"acme": {"vendor": "Acme", "params": {"click_id": ["cid"]}}}}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["presets"]["acme"].update({"colour": "red"}), "presets.acme.colour"),
        (lambda d: d["presets"]["acme"]["params"].update({"clickid": "x"}),
         "presets.acme.params.clickid"),
        (lambda d: d["presets"]["acme"]["params"].update({"idfa": []}),
         "presets.acme.params.idfa"),
        (lambda d: d["presets"]["acme"].update({"revenue_units": "cents"}),
         "presets.acme.revenue_units"),
        (lambda d: d["presets"]["acme"].update({"time_formats": {"install_time": "iso"}}),
         "presets.acme.time_formats.install_time"),
        (lambda d: d["presets"]["acme"].update({"time_formats": {"open_time": "epoch_s"}}),
         "presets.acme.time_formats.open_time"),
        (lambda d: d["presets"]["acme"].update({"kind": {"when_missing": "guess"}}),
         "presets.acme.kind.when_missing"),
        (lambda d: d["presets"]["acme"].update({"ip_ranges": ["10.0.0.1/8"]}),
         "presets.acme.ip_ranges"),
        (lambda d: d["presets"]["acme"].update({"auth": {"token_param": ""}}),
         "presets.acme.auth.token_param"),
        (lambda d: d.update({"version": 2}), "version"),
        (lambda d: d.update({"presets": {}}), "presets"),
    ],
)  # fmt: skip
def test_loader_reports_the_path_of_each_problem(change: Any, path: str) -> None:
    data = _valid()
    change(data)
    with pytest.raises(PresetInvalid) as caught:
        load_presets(data)
    assert any(line.startswith(f"{path}:") for line in caught.value.problems), caught.value.problems


def test_loader_reports_every_problem_at_once() -> None:
    data = _valid()
    data["presets"]["acme"].update({"revenue_units": "cents", "colour": "red"})
    data["presets"]["other"] = {"params": {"nope": "x"}}
    with pytest.raises(PresetInvalid) as caught:
        load_presets(data)
    assert len(caught.value.problems) >= 4  # units, colour, unknown field, no field mapped


def test_loader_refuses_text_that_is_not_yaml() -> None:
    with pytest.raises(PresetInvalid, match="not YAML"):
        load_presets_yaml("presets: [unclosed")


def test_shipped_file_round_trips_through_the_loader() -> None:
    from importlib import resources

    text = resources.files("tracker.postbacks").joinpath("presets.yaml").read_text("utf-8")
    assert load_presets(yaml.safe_load(text)).keys() == PRESETS.keys()

"""MMP postback presets as data: ``presets.yaml`` (shipped) or an operator's file.

``load_presets(data)`` validates the parsed YAML shape (see the header of ``presets.yaml``)
and returns one frozen ``Preset`` per source, or raises ``PresetInvalid`` listing every
problem with its dotted path. Nothing here reads the clock or the network.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Literal

import yaml

from tracker.network import NetworkSet
from tracker.postbacks.errors import PresetInvalid

CANONICAL_FIELDS = (
    "click_id", "idfa", "gaid", "idfv", "android_id", "device_ip", "event_name", "revenue",
    "currency", "install_time", "click_time", "event_time", "transaction_id", "app_id",
    "partner_id", "campaign_id", "customer_id", "order_id", "platform", "ios_app_id",
    "android_app_id",
)  # fmt: skip
TIME_FIELDS = ("install_time", "click_time", "event_time")
PRESET_KEYS = frozenset(
    {"vendor", "docs", "template", "params", "revenue_units", "time_formats", "kind", "auth",
     "ip_ranges"}
)  # fmt: skip
KIND_KEYS = frozenset({"param", "install_values", "when_missing"})
AUTH_KEYS = frozenset({"notes", "token_param", "signature_header"})


class TimeFormat(StrEnum):
    EPOCH_S = "epoch_s"
    EPOCH_MS = "epoch_ms"
    DATETIME_UTC = "datetime_utc"  # "YYYY-MM-DD HH:MM:SS[.ffffff]", UTC
    # Any of the three, told apart by shape and size (inside 2000-2100 epoch seconds and
    # epoch milliseconds do not overlap): for a vendor whose unit is not documented.
    AUTO = "auto"


RevenueUnits = Literal["major", "minor"]
WhenMissing = Literal["install", "event", "error"]
_WHEN_MISSING: dict[str, WhenMissing] = {
    "install": "install",
    "event": "event",
    "error": "error",
}


@dataclass(frozen=True, slots=True)
class KindRule:
    """How an install is told from an in-app event.

    ``param`` is the query parameter to read (None: the preset's event_name field);
    ``install_values`` are lower-cased; ``when_missing`` decides when it is absent.
    """

    param: str | None = None
    install_values: frozenset[str] = frozenset({"install"})
    when_missing: WhenMissing = "error"


@dataclass(frozen=True, slots=True)
class Preset:
    """One source's postback format: which parameter carries which field, in which unit."""

    name: str
    vendor: str
    params: Mapping[str, tuple[str, ...]]  # canonical field -> query parameter names
    revenue_units: RevenueUnits = "major"
    time_formats: Mapping[str, TimeFormat] = field(default_factory=lambda: MappingProxyType({}))
    kind: KindRule = KindRule()
    auth_token_param: str | None = None
    auth_signature_header: str | None = None
    auth_notes: str = ""
    ip_ranges: NetworkSet = field(default_factory=lambda: NetworkSet.compile(()))
    template: str = ""
    docs: str = ""

    def time_format(self, name: str) -> TimeFormat:
        return self.time_formats.get(name, TimeFormat.EPOCH_MS)


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{path}: {message}")


def _names(value: object, path: str, problems: _Problems) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n.strip() for n in names)
    ):
        problems.add(path, "expected a parameter name or a non-empty list of names")
        return ()
    return tuple(n.strip() for n in names)


def _optional_str(value: object, path: str, problems: _Problems) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return value.strip() if isinstance(value, str) else None
    problems.add(path, "expected a non-empty string")
    return None


def _mapping(
    value: object, path: str, keys: frozenset[str] | None, problems: _Problems
) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(path, "expected a mapping")
        return {}
    for key in value:
        if not isinstance(key, str) or (keys is not None and key not in keys):
            problems.add(f"{path}.{key}", "unknown key")
    return value


def _kind(value: object, path: str, problems: _Problems) -> KindRule:
    raw = _mapping(value, path, KIND_KEYS, problems)
    values = _names(raw.get("install_values", ["install"]), f"{path}.install_values", problems)
    missing_value = raw.get("when_missing", "error")
    when_missing = _WHEN_MISSING.get(missing_value) if isinstance(missing_value, str) else None
    if when_missing is None:
        problems.add(f"{path}.when_missing", "expected install, event or error")
        when_missing = "error"
    return KindRule(
        param=_optional_str(raw.get("param"), f"{path}.param", problems),
        install_values=frozenset(v.lower() for v in values),
        when_missing=when_missing,
    )


def _preset(name: str, value: object, problems: _Problems) -> Preset | None:
    path = f"presets.{name}"
    raw = _mapping(value, path, PRESET_KEYS, problems)
    if not raw:
        problems.add(path, "expected a non-empty mapping")
        return None
    params: dict[str, tuple[str, ...]] = {}
    for canonical, names in _mapping(raw.get("params"), f"{path}.params", None, problems).items():
        if canonical not in CANONICAL_FIELDS:
            problems.add(
                f"{path}.params.{canonical}",
                f"unknown field (expected one of {', '.join(CANONICAL_FIELDS)})",
            )
            continue
        params[canonical] = _names(names, f"{path}.params.{canonical}", problems)
    if not params:
        problems.add(f"{path}.params", "a preset maps at least one field")
    units = raw.get("revenue_units", "major")
    if units not in ("major", "minor"):
        problems.add(f"{path}.revenue_units", "expected major or minor")
    formats: dict[str, TimeFormat] = {}
    for time_field, fmt in _mapping(
        raw.get("time_formats"), f"{path}.time_formats", frozenset(TIME_FIELDS), problems
    ).items():
        try:
            formats[time_field] = TimeFormat(str(fmt))
        except ValueError:
            problems.add(
                f"{path}.time_formats.{time_field}",
                f"expected one of {', '.join(f.value for f in TimeFormat)}",
            )
    auth = _mapping(raw.get("auth"), f"{path}.auth", AUTH_KEYS, problems)
    ranges = raw.get("ip_ranges") or []
    try:
        if not isinstance(ranges, list) or not all(isinstance(r, str) for r in ranges):
            raise ValueError("expected a list of CIDR strings")
        networks = NetworkSet.compile(ranges)
    except ValueError as exc:
        problems.add(f"{path}.ip_ranges", str(exc))
        networks = NetworkSet.compile(())
    template = raw.get("template", "")
    return Preset(
        name=name,
        vendor=str(raw.get("vendor") or name),
        params=MappingProxyType(params),
        revenue_units="minor" if units == "minor" else "major",
        time_formats=MappingProxyType(formats),
        kind=_kind(raw.get("kind"), f"{path}.kind", problems),
        auth_token_param=_optional_str(
            auth.get("token_param"), f"{path}.auth.token_param", problems
        ),
        auth_signature_header=_optional_str(
            auth.get("signature_header"), f"{path}.auth.signature_header", problems
        ),
        auth_notes=" ".join(str(auth.get("notes") or "").split()),
        ip_ranges=networks,
        # Templates are folded YAML; whitespace in them is layout, not content.
        template="".join(str(template).split()),
        docs=str(raw.get("docs") or ""),
    )


def load_presets(data: object) -> dict[str, Preset]:
    """Validate the parsed presets document; one ``Preset`` per source name.

    Raises ``PresetInvalid`` with every problem found (not just the first).
    """
    problems = _Problems()
    root = _mapping(data, "(root)", frozenset({"version", "presets"}), problems)
    if root.get("version", 1) != 1:
        problems.add("version", "only version 1 is supported")
    presets: dict[str, Preset] = {}
    for name, value in _mapping(root.get("presets"), "presets", None, problems).items():
        preset = _preset(str(name), value, problems)
        if preset is not None:
            presets[str(name)] = preset
    if not presets:
        problems.add("presets", "no preset defined")
    if problems.lines:
        raise PresetInvalid(tuple(problems.lines))
    return presets


def load_presets_yaml(text: str | bytes) -> dict[str, Preset]:
    """``load_presets`` over YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PresetInvalid((f"(root): not YAML ({exc})",)) from exc
    return load_presets(data)


@functools.cache
def default_presets() -> Mapping[str, Preset]:
    """The presets shipped with the package (``tracker/postbacks/presets.yaml``)."""
    text = resources.files("tracker.postbacks").joinpath("presets.yaml").read_text("utf-8")
    return MappingProxyType(load_presets_yaml(text))

"""Map one MMP postback's query parameters, through its preset, to a typed value.

``map_postback(preset, params)`` is pure: the same parameters always give the same
``MappedPostback`` (or the same ``PostbackMalformed``, whose ``field`` names the canonical
field and whose message names the parameter that carried it).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from tracker.network import parse_ip
from tracker.postbacks.currencies import major_to_minor, normalise_currency, parse_decimal
from tracker.postbacks.currencies import parse_minor as parse_minor_units
from tracker.postbacks.errors import PostbackMalformed
from tracker.postbacks.presets import Preset, TimeFormat

Kind = Literal["install", "event"]
DeviceIdType = Literal["idfa", "gaid", "idfv", "android_id"]

# Accepted timestamps: 2000-01-01 .. 2100-01-01 UTC. Outside it, the unit is wrong (ms read
# as seconds lands in the year 50000) and the postback is refused rather than misdated.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
# A macro the vendor sent back unfilled: "(idfa)", "{idfa}", "${(user_data.idfa)!}", "%idfa%".
_UNFILLED = re.compile(r"\(\s*[\w.~-]+\s*\)|\{\s*[\w.~-]+\s*\}|\$\{.*\}|%[\w.-]+%")
_EPOCH = re.compile(r"[0-9]+(\.[0-9]+)?")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?")
_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)
_PLATFORMS = {"ios": "ios", "iphone": "ios", "ipad": "ios", "android": "android"}


@dataclass(frozen=True, slots=True)
class MappedPostback:
    """One MMP postback in partnerstream's terms.

    ``device_id`` is the best identifier present (IDFA, then GAID, then IDFV, then Android
    ID; all-zero advertising ids, sent when tracking is not authorised, count as absent).
    ``revenue_minor`` is an integer of ``currency``'s minor unit. Timestamps are UTC epoch
    milliseconds. ``raw`` holds the parameters as received, minus the auth token.
    """

    source: str
    kind: Kind
    event_name: str
    click_id: str | None
    device_id: str | None
    device_id_type: DeviceIdType | None
    idfv: str | None
    device_ip: str | None
    revenue_minor: int | None
    currency: str | None
    install_ts_ms: int | None
    click_ts_ms: int | None
    event_ts_ms: int | None
    transaction_id: str | None
    app_id: str | None
    partner_id: str | None
    campaign_id: str | None
    customer_id: str | None
    order_id: str | None
    platform: str | None
    raw: Mapping[str, str]

    @property
    def dedup_key(self) -> str:
        """Equal for retries of one postback: the vendor's event id when it sends one, else
        a SHA-256 of the sorted raw parameters (equal for a retry with identical parameters)."""
        if self.transaction_id is not None:
            return f"{self.source}:{self.transaction_id}"
        digest = hashlib.sha256()
        for name in sorted(self.raw):
            digest.update(f"{name}\x1f{self.raw[name]}\x1e".encode())
        return f"{self.source}:sha256:{digest.hexdigest()}"


def ctit_seconds(click_ts_ms: int | None, install_ts_ms: int | None) -> float | None:
    """Click-to-install time in seconds (negative when the install precedes the click), or
    None when either time is unknown."""
    if click_ts_ms is None or install_ts_ms is None:
        return None
    return (install_ts_ms - click_ts_ms) / 1000


class _Reader:
    def __init__(self, preset: Preset, params: Mapping[str, str]) -> None:
        self.preset = preset
        self.params = params

    def fail(self, canonical: str, message: str, param: str | None = None) -> PostbackMalformed:
        where = f" (parameter {param!r})" if param else ""
        return PostbackMalformed(f"{message}{where}", field=canonical)

    def raw(self, canonical: str) -> tuple[str, str] | None:
        """(parameter name, value) of the first non-empty, filled parameter for the field."""
        for name in self.preset.params.get(canonical, ()):
            value = self.param(name)
            if value is not None:
                return name, value
        return None

    def param(self, name: str) -> str | None:
        """The stripped value of query parameter ``name``; None if absent, empty or unfilled."""
        value = (self.params.get(name) or "").strip()
        return value if value and not _UNFILLED.fullmatch(value) else None

    def text(self, canonical: str) -> str | None:
        found = self.raw(canonical)
        return found[1] if found else None

    def uuid_id(self, canonical: str, upper: bool) -> str | None:
        found = self.raw(canonical)
        if found is None:
            return None
        try:
            value = str(uuid.UUID(found[1]))
        except ValueError as exc:
            raise self.fail(canonical, f"{found[1]!r} is not a UUID", found[0]) from exc
        if value == ZERO_UUID:
            return None
        return value.upper() if upper else value

    def timestamp(self, canonical: str) -> int | None:
        found = self.raw(canonical)
        if found is None:
            return None
        param, value = found
        fmt = self.preset.time_format(canonical)
        if fmt is TimeFormat.AUTO:
            fmt = _guess_format(value)
        if fmt is TimeFormat.DATETIME_UTC:
            if not _DATETIME.fullmatch(value):
                raise self.fail(canonical, f"{value!r} is not 'YYYY-MM-DD HH:MM:SS' UTC", param)
            parsed = datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=UTC)
            ms = (parsed - _EPOCH_START) // timedelta(milliseconds=1)
        else:
            if not _EPOCH.fullmatch(value) or (fmt is TimeFormat.EPOCH_MS and "." in value):
                raise self.fail(canonical, f"{value!r} is not {fmt.value}", param)
            scale = 1000 if fmt is TimeFormat.EPOCH_S else 1
            ms = int(Decimal(value) * scale)
        if not MIN_TS_MS <= ms < MAX_TS_MS:
            raise self.fail(
                canonical,
                f"{value!r} read as {fmt.value} is outside 2000-2100 (wrong unit?)",
                param,
            )
        return ms


def _guess_format(value: str) -> TimeFormat:
    """For ``auto``: a datetime string, else epoch seconds below 10^11 (the year 5138), else
    epoch milliseconds (10^11 ms is 1973). Out-of-range values still fail the range check."""
    if not _EPOCH.fullmatch(value):
        return TimeFormat.DATETIME_UTC
    return TimeFormat.EPOCH_S if Decimal(value) < 100_000_000_000 else TimeFormat.EPOCH_MS


def _kind(read: _Reader) -> tuple[Kind, str]:
    """(kind, event name); installs are named ``install`` whatever the vendor calls them."""
    rule = read.preset.kind
    event_name = read.text("event_name")
    if rule.param is None:
        marker, marker_name = event_name, "event_name"
    else:
        marker, marker_name = read.param(rule.param), rule.param
    if marker is None:
        if rule.when_missing == "error":
            raise read.fail("kind", f"cannot tell install from event: {marker_name} is missing")
        if rule.when_missing == "install":
            return "install", "install"
        if event_name is None:
            raise read.fail("event_name", "missing for an in-app event")
        return "event", event_name
    if marker.lower() in rule.install_values:
        return "install", "install"
    name = event_name or marker
    return "event", name


def _revenue(read: _Reader) -> tuple[int | None, str | None]:
    currency_found = read.raw("currency")
    currency = None
    if currency_found is not None:
        try:
            currency = normalise_currency(currency_found[1])
        except ValueError as exc:
            raise read.fail("currency", str(exc), currency_found[0]) from exc
    found = read.raw("revenue")
    if found is None:
        return None, currency
    param, value = found
    if currency is None:
        raise read.fail("currency", f"missing, but revenue {value!r} was sent")
    try:
        if read.preset.revenue_units == "minor":
            minor = parse_minor_units(value)
        else:
            minor = major_to_minor(parse_decimal(value), currency)
    except ValueError as exc:
        raise read.fail("revenue", str(exc), param) from exc
    if minor < 0:
        raise read.fail("revenue", f"{value!r} is negative", param)
    return minor, currency


def _device(read: _Reader) -> tuple[str | None, DeviceIdType | None, str | None]:
    idfa = read.uuid_id("idfa", upper=True)
    gaid = read.uuid_id("gaid", upper=False)
    idfv = read.uuid_id("idfv", upper=True)
    android_id = read.text("android_id")
    candidates: tuple[tuple[str | None, DeviceIdType], ...] = (
        (idfa, "idfa"), (gaid, "gaid"), (idfv, "idfv"),
        (android_id.lower() if android_id else None, "android_id"),
    )  # fmt: skip
    for value, kind in candidates:
        if value is not None:
            return value, kind, idfv
    return None, None, idfv


def _platform(read: _Reader, device_id_type: DeviceIdType | None) -> str | None:
    text = read.text("platform")
    if text is not None:
        return _PLATFORMS.get(text.lower(), text.lower())
    if device_id_type in ("idfa", "idfv"):
        return "ios"
    if device_id_type in ("gaid", "android_id"):
        return "android"
    return None


def _app_id(read: _Reader, platform: str | None) -> str | None:
    """The ``app_id`` field, else the platform's own field (``ios_app_id`` /
    ``android_app_id``) for vendors that have one macro per store (Branch)."""
    app_id = read.text("app_id")
    if app_id is None and platform in ("ios", "android"):
        app_id = read.text(f"{platform}_app_id")
    return app_id


def _device_ip(read: _Reader) -> str | None:
    found = read.raw("device_ip")
    if found is None:
        return None
    address = parse_ip(found[1])
    if address is None:
        raise read.fail("device_ip", f"{found[1]!r} is not an IP address", found[0])
    return address.compressed


def map_postback(preset: Preset, params: Mapping[str, str]) -> MappedPostback:
    """Map a postback's decoded query (or form) parameters through ``preset``.

    Raises ``PostbackMalformed`` naming the canonical field for a value that does not parse
    (a non-UUID IDFA, ``12,99`` as revenue, a timestamp in the wrong unit), for revenue
    without a currency, and when the postback's kind cannot be told.
    """
    read = _Reader(preset, params)
    kind, event_name = _kind(read)
    device_id, device_id_type, idfv = _device(read)
    revenue_minor, currency = _revenue(read)
    event_ts_ms = read.timestamp("event_time")
    install_ts_ms = read.timestamp("install_time")
    if kind == "install" and install_ts_ms is None:
        install_ts_ms = event_ts_ms  # an install event's own time is the install time
    secret = preset.auth_token_param
    platform = _platform(read, device_id_type)
    return MappedPostback(
        source=preset.name,
        kind=kind,
        event_name=event_name,
        click_id=read.text("click_id"),
        device_id=device_id,
        device_id_type=device_id_type,
        idfv=idfv,
        device_ip=_device_ip(read),
        revenue_minor=revenue_minor,
        currency=currency,
        install_ts_ms=install_ts_ms,
        click_ts_ms=read.timestamp("click_time"),
        event_ts_ms=event_ts_ms,
        transaction_id=read.text("transaction_id"),
        app_id=_app_id(read, platform),
        partner_id=read.text("partner_id"),
        campaign_id=read.text("campaign_id"),
        customer_id=read.text("customer_id"),
        order_id=read.text("order_id"),
        platform=platform,
        raw=MappingProxyType({k: v for k, v in params.items() if k != secret}),
    )

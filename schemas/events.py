"""Versioned wire events of partnerstream (schema version 1).

Every event shares one canonical envelope (`EventBase`): `schema_version`, `event_id` (unique;
assigned by the server when the sender has none), `type`, client `ts` and server `received_at`
(UTC), the advertiser / partner / campaign it concerns, the identifiers of the person behind it
(`click_id`, `visitor_id`, `device_id`, `customer_id`) and a `context` filled in by the
collector's enrichment (anonymised IP, bot and fraud flags, consent).

Money is always an integer number of minor units (cents) with an ISO-4217 `currency`.
The Kafka key of an event is `partition_key()`: see ARCHITECTURE.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
)

SCHEMA_VERSION = 1
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)


class PartnerType(StrEnum):
    AFFILIATE = "affiliate"
    INFLUENCER = "influencer"
    CONTENT = "content"
    B2B = "b2b"
    MOBILE_NETWORK = "mobile_network"
    OTHER = "other"


class DeviceIdType(StrEnum):
    IDFA = "idfa"
    GAID = "gaid"
    IDFV = "idfv"
    ANDROID_ID = "android_id"


class Source(StrEnum):
    """Which door an event came in through."""

    LINK = "link"
    PIXEL = "pixel"
    SDK = "sdk"
    S2S = "s2s"
    MMP = "mmp"
    SKAN = "skan"
    AAK = "aak"


class ReversalReason(StrEnum):
    RETURNED = "returned"
    CANCELLED = "cancelled"
    FRAUD = "fraud"
    CHARGEBACK = "chargeback"
    MODIFIED = "modified"
    OTHER = "other"


def _to_utc(value: object) -> object:
    """Accept ISO-8601 strings, aware datetimes, or epoch milliseconds; naive means UTC."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be ISO-8601 or epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:  # e.g. 9.2e21, nan
            raise ValueError(f"epoch milliseconds {value!r} are out of range") from exc
    return value


def _check_utc(value: datetime) -> datetime:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value < MIN_TS:
        raise ValueError("timestamp is before 2000-01-01; epoch seconds sent as milliseconds?")
    return value


UtcDatetime = Annotated[datetime, BeforeValidator(_to_utc), AfterValidator(_check_utc)]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00-\x1f]+$")]
EventId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
SubId = Annotated[str, Field(max_length=255)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO-4217 code")]
MinorUnits = Annotated[
    int, Field(ge=0, le=10**15, description="integer amount in minor units (e.g. cents)")
]


class Consent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gdpr: bool | None = Field(None, description="GDPR applies (TCF `gdpr` flag)")
    gdpr_consent: str | None = Field(None, max_length=4096, description="TCF consent string")
    gpc: bool = Field(False, description="Global Privacy Control (Sec-GPC: 1)")


class Context(BaseModel):
    """Server-side enrichment; senders may leave it out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Source | None = None
    ip: str | None = Field(None, description="anonymised per the collector's IP setting")
    user_agent: str | None = Field(None, max_length=1024)
    referrer: str | None = Field(None, max_length=2048)
    page_url: str | None = Field(None, max_length=2048)
    is_bot: bool = False
    bot_name: str | None = None
    fraud_flags: tuple[str, ...] = ()
    consent: Consent = Consent()


class EventBase(BaseModel):
    """The canonical envelope shared by every event type."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    schema_version: Literal[1] = 1
    event_id: EventId | None = Field(None, description="unique; assigned by the server if missing")
    ts: UtcDatetime = Field(description="when it happened (client clock), ISO-8601 or epoch ms")
    received_at: UtcDatetime | None = Field(None, description="server clock; set by the collector")
    advertiser_id: Identifier | None = None
    partner_id: Identifier | None = None
    partner_type: PartnerType | None = None
    campaign_id: Identifier | None = None
    click_id: Annotated[str, Field(max_length=256)] | None = None
    click_event_id: EventId | None = Field(
        None, description="event id of the click a verified click id names (set by the server)"
    )
    visitor_id: Identifier | None = None
    device_id: Identifier | None = None
    device_id_type: DeviceIdType | None = None
    customer_id: Identifier | None = None
    sub1: SubId | None = None
    sub2: SubId | None = None
    sub3: SubId | None = None
    sub4: SubId | None = None
    sub5: SubId | None = None
    context: Context = Context()

    def partition_key(self) -> str:
        """The Kafka key: one person's journey stays in one partition, in order.

        Visitor beats device beats customer; an event with none of them is keyed by its own id.
        Conversions carry the visitor id recovered from their signed click id, so they share the
        partition of the clicks that led to them.
        """
        if self.visitor_id:
            return f"v:{self.visitor_id}"
        if self.device_id:
            return f"d:{self.device_id}"
        if self.customer_id:
            return f"c:{self.customer_id}"
        return f"e:{self.event_id}"


class Impression(EventBase):
    type: Literal["impression"] = "impression"
    partner_id: Identifier
    campaign_id: Identifier


class Click(EventBase):
    type: Literal["click"] = "click"
    partner_id: Identifier
    campaign_id: Identifier
    landing_url: Annotated[str, Field(max_length=4096)] | None = None


class AppleAttribution(BaseModel):
    """What a verified SKAdNetwork / AdAttributionKit postback says besides the install's
    source identifier and conversion values (``tracker.mobile`` fills it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ad_network_id: Identifier = Field(
        description="SKAdNetwork ad-network-id / AAK ad-network-identifier"
    )
    postback_sequence_index: int = Field(
        0, ge=0, le=2, description="0 = the install's first postback (always 0 before SKAN 4.0)"
    )
    did_win: bool | None = Field(None, description="did-win; None before SKAdNetwork 3.0")
    source_app_id: int | None = Field(
        None, ge=0, description="SKAN source-app-id / AAK publisher-item-identifier"
    )
    source_domain: Annotated[str, Field(max_length=255)] | None = Field(
        None, description="SKAdNetwork 4.0 web ads: the source domain"
    )
    conversion_type: Literal["download", "redownload", "re-engagement"] = Field(
        description="SKAN redownload false/true, or AAK conversion-type"
    )
    interaction_type: Literal["click", "view"] | None = Field(
        None, description="SKAN fidelity-type 1 / 0, or AAK ad-interaction-type"
    )

    @property
    def counts_as_install(self) -> bool:
        """The install to credit: its first postback, won (or before did-win existed)."""
        return self.postback_sequence_index == 0 and self.did_win is not False


class Install(EventBase):
    type: Literal["install"] = "install"
    app_id: Identifier
    click_ts: UtcDatetime | None = Field(None, description="time of the click that led to it")
    ctit_seconds: float | None = Field(None, ge=0, description="click-to-install time")
    transaction_id: Identifier | None = Field(None, description="sender's id, for dedup")
    source_identifier: Identifier | None = Field(
        None, description="SKAdNetwork campaign-id / source-identifier, AAK source id"
    )
    conversion_value: int | None = Field(None, ge=0, le=63)
    coarse_conversion_value: Literal["low", "medium", "high"] | None = None
    apple: AppleAttribution | None = Field(
        None,
        description="SKAdNetwork / AdAttributionKit postback fields: set by the collector on "
        "installs from a verified Apple postback; refused from any other sender",
    )


class Conversion(EventBase):
    type: Literal["conversion"] = "conversion"
    event_name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.:\-]+$")]
    order_id: Identifier | None = None
    revenue: MinorUnits = 0
    currency: CurrencyCode | None = None
    install_id: EventId | None = Field(None, description="the install this in-app event follows")
    transaction_id: Identifier | None = Field(None, description="sender's id, for dedup")


class Reversal(EventBase):
    type: Literal["reversal"] = "reversal"
    order_id: Identifier
    amount: MinorUnits | None = Field(None, description="amount reversed; None reverses it all")
    currency: CurrencyCode | None = None
    reason: ReversalReason = ReversalReason.OTHER


Event = Annotated[Impression | Click | Install | Conversion | Reversal, Field(discriminator="type")]
EVENT_TYPES: dict[str, type[EventBase]] = {
    "impression": Impression,
    "click": Click,
    "install": Install,
    "conversion": Conversion,
    "reversal": Reversal,
}
event_adapter: TypeAdapter[Impression | Click | Install | Conversion | Reversal] = TypeAdapter(
    Event
)


def parse_event(data: object) -> Impression | Click | Install | Conversion | Reversal:
    """Validate one event given as a dict (or JSON bytes). Raises pydantic.ValidationError."""
    if isinstance(data, bytes | str):
        return event_adapter.validate_json(data)
    return event_adapter.validate_python(data)

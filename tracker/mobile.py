"""Mobile intake, pure: install and in-app events from MMP and Apple postbacks.

The collector's postback routes authenticate a request, map it (``tracker.postbacks``,
``tracker.apple``), then call the builders here; nothing here reads a clock or a client.

**Deterministic event ids (dedup).** A postback's ``event_id`` is
``uuid5(NAMESPACE, f"{source}:{advertiser_id}:{dedup_key}")``, the dedup key being the
vendor's transaction id (or a digest of the parameters), SKAdNetwork's transaction id and
postback sequence index, or AdAttributionKit's postback identifier. A retried postback gets
the same id; the collector answers 200 again and the attributor, which drops repeated event
ids, counts it once.

**Installs and the events after them.** An install's ``event_id`` is
``install_id_for(advertiser, app, device) = uuid5(NAMESPACE, f"install:{adv}:{app}:{dev}")``
and the vendor's id is kept in ``transaction_id``. So installs are deduplicated per device
and app, as MMPs do (two MMPs reporting one install count once), and an in-app event
computes the id of its install from its own postback (``Conversion.install_id``) without a
lookup. Caveat: a reinstall of the app on the same device gets the id of the first install;
it is counted once, and later in-app events link to it. An install without a device id
(limited ad tracking and no IDFV) is keyed by its dedup key; in-app events then carry no
``install_id``. ``app_id`` is the registry's spelling of the app (``AppDirectory``).

**Partitions.** A postback's click id is our signed click id, passed through the MMP's
attribution link. ``check_click_id`` verifies it: a good one stays on the event and
``enrich`` sets ``visitor_id`` and ``click_event_id`` from it, so the install lands in the
click's partition (``v:<visitor>``). In-app postbacks that carry the click id too (AppsFlyer
repeats the attribution link's parameters) land there as well; those without it are keyed
by device (``d:<device>``) and are linked to their install by ``install_id`` only. A click
id that fails verification is dropped from the event, not the event: the MMP is
authenticated and the install happened; the fraud flag names why (``click_id_tampered``...).

**Fraud signals** (recorded in ``context.fraud_flags``, the engine decides): ``ctit_too_short``
(CTIT under ``FraudRules.min_ctit_s``, negative included), ``datacenter_ip`` (device address
in the configured list), and the click-id reason above. CTIT is computed from the MMP's
click time, else the verified click id's time, to the install time (else the receive time).
A negative CTIT is flagged and not stored (``ctit_seconds`` is >= 0).

**Vendor ids are not our ids.** ``partner_id`` / ``campaign_id`` are set only when the
vendor's value names a registry partner / a campaign of the advertiser; the vendor's values
are kept in ``sub1`` (partner / site id) and ``sub2`` (campaign).

**Apple postbacks** become ``Install`` events (``ts`` = receive time, no device, no IP)
whose typed ``apple`` field (``schemas.events.AppleAttribution``) holds the postback:

=======================  =========================================  ========================
field                    SKAdNetwork                                AdAttributionKit
=======================  =========================================  ========================
transaction_id           transaction-id                             postback-identifier
source_identifier        source-identifier (4.0) / campaign-id      source-identifier
conversion_value(s)      conversion-value, coarse-conversion-value  same (envelope)
apple.ad_network_id      ad-network-id                              ad-network-identifier
apple.postback_sequence  postback-sequence-index (0 before 4.0)     postback-sequence-index
_index
apple.did_win            did-win (None before 3.0)                  did-win
apple.source_app_id      source-app-id                              publisher-item-identifier
apple.source_domain      source-domain (4.0 web ads)                (none)
apple.conversion_type    "download" / "redownload"                  conversion-type
apple.interaction_type   fidelity-type 1 "click" / 0 "view"         ad-interaction-type
=======================  =========================================  ========================

``apple.counts_as_install`` (sequence index 0, did-win not false) is the install to credit;
later sequence indexes update the conversion value of the same install. The collector
credits the partner that owns ``apple.ad_network_id`` (registry ``skan_ad_network_ids``).
``sub1``..``sub5`` still carry the same values as text (ad network, sequence index, did-win,
source app or domain, conversion type) for readers of the former layout: the attributor's
Apple-install rule (``services.attributor.installs.counts_as_apple_install``) reads ``sub2``
and ``sub3``. New code reads ``apple``; the ClickHouse columns are ``apple_*`` (migration
031).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, TypedDict

from schemas.events import AppleAttribution, Context, Conversion, DeviceIdType, Install
from tracker.apple import AakPostback, SkanPostback
from tracker.click_ids import SecretRing, verify_click_id
from tracker.enrich import ms_to_datetime
from tracker.errors import InvalidClickId, RegistryInvalid, UnknownApp
from tracker.postbacks import FraudRules, MappedPostback, PostbackMalformed, ctit_seconds
from tracker.postbacks.fraud import (
    CTIT_TOO_SHORT,
    DATACENTER_IP,
    is_ctit_too_short,
    is_datacenter_ip,
)
from tracker.registry import Registry

NAMESPACE = uuid.UUID("6b345e6f-8773-4fc2-8edf-55865f7a9702")  # fixed forever: ids derive from it
SUB_MAX_CHARS = 255
_EVENT_NAME_BAD = re.compile(r"[^a-z0-9_.:\-]+")


def deterministic_id(*parts: str) -> str:
    """``uuid5(NAMESPACE, ":".join(parts))`` as text: equal parts, equal id."""
    return str(uuid.uuid5(NAMESPACE, ":".join(parts)))


def postback_event_id(source: str, advertiser_id: str, dedup_key: str) -> str:
    return deterministic_id(source, advertiser_id, dedup_key)


def install_id_for(advertiser_id: str, app_id: str, device_id: str) -> str:
    """The event id of the install of ``app_id`` on ``device_id`` (see the module docstring)."""
    return deterministic_id("install", advertiser_id, app_id, device_id)


def app_key(app_id: str) -> str:
    """How app ids are compared: ``id1234567890`` (App Store, AppsFlyer) equals ``1234567890``
    (SKAdNetwork, Adjust); case is ignored."""
    text = app_id.strip().lower()
    return text[2:] if text.startswith("id") and text[2:].isdigit() else text


@dataclass(frozen=True, slots=True)
class AppOwner:
    advertiser_id: str
    app_id: str  # as the registry spells it


@dataclass(frozen=True, slots=True)
class AppDirectory:
    """App id -> the advertiser whose campaigns name it."""

    owners: Mapping[str, AppOwner]

    @classmethod
    def from_registry(cls, registry: Registry) -> AppDirectory:
        """Raises ``RegistryInvalid`` when two advertisers' campaigns name the same app."""
        owners: dict[str, AppOwner] = {}
        problems: list[str] = []
        for cid, campaign in registry.campaigns.items():
            if not campaign.app_id:
                continue
            owner = AppOwner(campaign.advertiser_id, campaign.app_id)
            seen = owners.setdefault(app_key(campaign.app_id), owner)
            if seen.advertiser_id != owner.advertiser_id:
                problems.append(
                    f"campaigns.{cid}.app_id: {campaign.app_id!r} is also "
                    f"{seen.advertiser_id!r}'s app"
                )
        if problems:
            raise RegistryInvalid(tuple(problems))
        return cls(MappingProxyType(owners))

    def owner(self, app_id: str | None) -> AppOwner | None:
        return self.owners.get(app_key(app_id)) if app_id else None

    def require(self, app_id: str | None, advertiser_id: str | None = None) -> AppOwner:
        """The app's owner; ``UnknownApp`` if none, or if it is not ``advertiser_id``."""
        owner = self.owner(app_id)
        if owner is None or (advertiser_id is not None and owner.advertiser_id != advertiser_id):
            raise UnknownApp(f"no campaign of the registry names app {app_id!r}")
        return owner


@dataclass(frozen=True, slots=True)
class ClickCheck:
    """A postback's click id after verification: kept, or dropped with a fraud flag."""

    click_id: str | None = None
    click_ts_ms: int | None = None
    flag: str | None = None


def check_click_id(
    click_id: str | None, secrets: SecretRing, now_ms: int, max_age_ms: int
) -> ClickCheck:
    if not click_id:
        return ClickCheck()
    try:
        claims = verify_click_id(secrets, click_id, now_ms, max_age_ms)
    except InvalidClickId as exc:
        return ClickCheck(flag=exc.reason)
    return ClickCheck(click_id=click_id, click_ts_ms=claims.ts_ms)


def normalise_event_name(name: str) -> str:
    """Vendor event names (``af_purchase``, ``PURCHASE``, ``Registration Complete``) in our
    form: lower case, runs of other characters as ``_``, at most 64 characters."""
    text = _EVENT_NAME_BAD.sub("_", name.strip().lower()).strip("_")[:64]
    if not text:
        raise PostbackMalformed(f"{name!r} has no usable character", field="event_name")
    return text


def _sub(value: str | None) -> str | None:
    return value[:SUB_MAX_CHARS] if value else None


@dataclass(frozen=True, slots=True)
class PostbackContext:
    """What the route knows besides the postback: who sent it, when, and the rules."""

    advertiser_id: str
    app_id: str | None  # the registry's spelling, None when the postback names no app
    received_at_ms: int
    click: ClickCheck
    rules: FraudRules
    partner_ids: Collection[str]  # registry partners
    campaign_ids: Collection[str]  # the advertiser's campaigns


class _Shared(TypedDict):
    click_id: str | None
    device_id: str | None
    device_id_type: DeviceIdType | None
    customer_id: str | None
    partner_id: str | None
    campaign_id: str | None
    sub1: str | None
    sub2: str | None
    context: Context


def _shared(mapped: MappedPostback, ctx: PostbackContext, flags: list[str]) -> _Shared:
    if is_datacenter_ip(mapped.device_ip, ctx.rules.datacenter_networks):
        flags.append(DATACENTER_IP)
    if ctx.click.flag:
        flags.append(ctx.click.flag)
    return _Shared(
        click_id=ctx.click.click_id,
        device_id=mapped.device_id,
        device_id_type=DeviceIdType(mapped.device_id_type) if mapped.device_id_type else None,
        customer_id=mapped.customer_id,
        partner_id=mapped.partner_id if mapped.partner_id in ctx.partner_ids else None,
        campaign_id=mapped.campaign_id if mapped.campaign_id in ctx.campaign_ids else None,
        sub1=_sub(mapped.partner_id),
        sub2=_sub(mapped.campaign_id),
        context=Context(fraud_flags=tuple(flags)),
    )


def install_from_postback(mapped: MappedPostback, ctx: PostbackContext) -> Install:
    """The ``Install`` of an install postback (``mapped.kind == "install"``)."""
    if ctx.app_id is None:
        raise PostbackMalformed("missing for an install", field="app_id")
    install_ms = mapped.install_ts_ms if mapped.install_ts_ms is not None else ctx.received_at_ms
    click_ms = mapped.click_ts_ms if mapped.click_ts_ms is not None else ctx.click.click_ts_ms
    ctit = ctit_seconds(click_ms, install_ms)
    flags = [CTIT_TOO_SHORT] if is_ctit_too_short(ctit, ctx.rules.min_ctit_s) else []
    if mapped.device_id is not None:
        event_id = install_id_for(ctx.advertiser_id, ctx.app_id, mapped.device_id)
    else:
        event_id = postback_event_id(mapped.source, ctx.advertiser_id, mapped.dedup_key)
    return Install(
        event_id=event_id,
        ts=ms_to_datetime(install_ms),
        app_id=ctx.app_id,
        click_ts=ms_to_datetime(click_ms) if click_ms is not None else None,
        ctit_seconds=ctit if ctit is not None and ctit >= 0 else None,
        transaction_id=mapped.transaction_id,
        **_shared(mapped, ctx, flags),
    )


def conversion_from_postback(mapped: MappedPostback, ctx: PostbackContext) -> Conversion:
    """The ``Conversion`` of an in-app event postback, linked to its install when the app
    and the device are known."""
    install_id = (
        install_id_for(ctx.advertiser_id, ctx.app_id, mapped.device_id)
        if ctx.app_id is not None and mapped.device_id is not None
        else None
    )
    event_ms = mapped.event_ts_ms if mapped.event_ts_ms is not None else ctx.received_at_ms
    return Conversion(
        event_id=postback_event_id(mapped.source, ctx.advertiser_id, mapped.dedup_key),
        ts=ms_to_datetime(event_ms),
        event_name=normalise_event_name(mapped.event_name),
        order_id=mapped.order_id,
        revenue=mapped.revenue_minor or 0,
        currency=mapped.currency,
        install_id=install_id,
        transaction_id=mapped.transaction_id,
        **_shared(mapped, ctx, []),
    )


def event_from_postback(mapped: MappedPostback, ctx: PostbackContext) -> Install | Conversion:
    if mapped.kind == "install":
        return install_from_postback(mapped, ctx)
    return conversion_from_postback(mapped, ctx)


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


_FIDELITY: dict[int, Literal["click", "view"]] = {1: "click", 0: "view"}


class _AppleSubs(TypedDict):
    sub1: str | None
    sub2: str
    sub3: str | None
    sub4: str | None
    sub5: str


def _apple_subs(apple: AppleAttribution) -> _AppleSubs:
    """The former text layout of the Apple fields (module docstring), still written."""
    publisher = str(apple.source_app_id) if apple.source_app_id is not None else apple.source_domain
    return _AppleSubs(
        sub1=_sub(apple.ad_network_id),
        sub2=str(apple.postback_sequence_index),
        sub3=_flag(apple.did_win),
        sub4=_sub(publisher),
        sub5=apple.conversion_type,
    )


def install_from_skan(
    postback: SkanPostback, *, advertiser_id: str, app_id: str, received_at_ms: int
) -> Install:
    """A verified SKAdNetwork postback as an ``Install`` (fields: module docstring)."""
    apple = AppleAttribution(
        ad_network_id=postback.ad_network_id,
        postback_sequence_index=postback.postback_sequence_index or 0,
        did_win=postback.did_win,
        source_app_id=postback.source_app_id,
        source_domain=postback.source_domain,
        conversion_type="redownload" if postback.redownload else "download",
        interaction_type=_FIDELITY.get(postback.fidelity_type)
        if postback.fidelity_type is not None
        else None,
    )
    return Install(
        event_id=postback_event_id("skan", advertiser_id, postback.dedup_key),
        ts=ms_to_datetime(received_at_ms),
        app_id=app_id,
        transaction_id=postback.transaction_id,
        source_identifier=postback.source_identifier,
        conversion_value=postback.conversion_value,
        coarse_conversion_value=postback.coarse_conversion_value,
        apple=apple,
        **_apple_subs(apple),
    )


def install_from_aak(
    postback: AakPostback, *, advertiser_id: str, app_id: str, received_at_ms: int
) -> Install:
    """A verified AdAttributionKit postback as an ``Install`` (fields: module docstring)."""
    apple = AppleAttribution(
        ad_network_id=postback.ad_network_identifier,
        postback_sequence_index=postback.postback_sequence_index,
        did_win=postback.did_win,
        source_app_id=postback.publisher_item_identifier,
        conversion_type=postback.conversion_type,
        interaction_type=postback.ad_interaction_type,
    )
    return Install(
        event_id=postback_event_id("aak", advertiser_id, postback.dedup_key),
        ts=ms_to_datetime(received_at_ms),
        app_id=app_id,
        transaction_id=postback.postback_identifier,
        source_identifier=postback.source_identifier,
        conversion_value=postback.conversion_value,
        coarse_conversion_value=postback.coarse_conversion_value,
        apple=apple,
        **_apple_subs(apple),
    )

"""Turning a validated event into its canonical, enriched form (pure).

`enrich` fills in what only the server knows: the event id (when the sender gave none), the
server time, the anonymised IP, the bot verdict, consent, the partner type, and, for an event
that carries a click id, the visitor id recovered from the verified click id (so it is keyed to
the visitor's partition). A click id that fails verification raises `InvalidClickId`: the
caller dead-letters the event, and nothing forged is ever credited.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from schemas.events import Consent as ConsentModel
from schemas.events import Context, EventBase, PartnerType, Source
from tracker.bots import HUMAN, detect_bot
from tracker.click_ids import ClickIdClaims, SecretRing, verify_click_id
from tracker.consent import NO_SIGNALS, Consent
from tracker.network import IpMode, anonymize_ip

E = TypeVar("E", bound=EventBase)
BROWSER_SOURCES = frozenset({Source.LINK, Source.PIXEL, Source.SDK})


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the collector knows about the HTTP request an event came in."""

    received_at_ms: int
    source: Source
    ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    page_url: str | None = None
    consent: Consent = NO_SIGNALS
    advertiser_id: str | None = None  # authenticated advertiser, if any


@dataclass(frozen=True, slots=True)
class EnrichConfig:
    click_secrets: SecretRing
    click_max_age_ms: int
    ip_mode: IpMode
    partner_types: Mapping[str, str]  # partner id -> partner type, from the registry


@functools.lru_cache(maxsize=1024)
def ms_to_datetime(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds (cached: a batch's events share one server time)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _consent_model(consent: Consent) -> ConsentModel:
    return ConsentModel(gdpr=consent.gdpr_applies, gdpr_consent=consent.tcf_string, gpc=consent.gpc)


@functools.lru_cache(maxsize=4096)
def shared_context(
    source: Source,
    ip: str | None,
    ip_mode: IpMode,
    user_agent: str | None,
    referrer: str | None,
    page_url: str | None,
    fraud_flags: tuple[str, ...],
    consent: ConsentModel,
) -> Context:
    """The enrichment shared by every event of a request (and by repeat visitors): computed
    once per distinct input, since IP parsing and model validation cost more than the rest."""
    # Server-to-server doors (MMPs, advertisers' servers, Apple) carry no device User-Agent:
    # no verdict there, rather than "empty user agent, so a bot".
    verdict = detect_bot(user_agent) if user_agent or source in BROWSER_SOURCES else HUMAN
    return Context(
        source=source,
        ip=anonymize_ip(ip, ip_mode),
        user_agent=user_agent[:1024] if user_agent else None,
        referrer=referrer,
        page_url=page_url,
        is_bot=verdict.is_bot,
        bot_name=verdict.crawler or verdict.reason,
        fraud_flags=fraud_flags,
        consent=consent,
    )


def enrich(
    event: E,
    info: RequestInfo,
    config: EnrichConfig,
    new_event_id: str,
    *,
    minted: ClickIdClaims | None = None,
) -> E:
    """The canonical event: ids, server time, context, and the click id's visitor.

    Raises `tracker.errors.InvalidClickId` when the event's click id is forged, tampered,
    expired or malformed. ``minted``: the claims of a click id the caller has just minted
    for this very event (a click), which need no verification.
    """
    update: dict[str, object] = {
        "event_id": event.event_id or new_event_id,
        "received_at": ms_to_datetime(info.received_at_ms),
    }
    if event.click_id:
        claims = minted or verify_click_id(
            config.click_secrets, event.click_id, info.received_at_ms, config.click_max_age_ms
        )
        update["visitor_id"] = str(claims.visitor_id)
        update["click_event_id"] = str(claims.event_id)
    if info.advertiser_id is not None:
        update["advertiser_id"] = info.advertiser_id
    if event.partner_id and event.partner_type is None:
        partner_type = config.partner_types.get(event.partner_id)
        if partner_type is not None:
            update["partner_type"] = PartnerType(partner_type)
    consent = info.consent if info.consent != NO_SIGNALS else None
    update["context"] = shared_context(
        info.source,
        info.ip,
        config.ip_mode,
        info.user_agent or event.context.user_agent,
        info.referrer or event.context.referrer or None,
        info.page_url or event.context.page_url or None,
        event.context.fraud_flags,
        _consent_model(consent) if consent is not None else event.context.consent,
    )
    return event.model_copy(update=update)

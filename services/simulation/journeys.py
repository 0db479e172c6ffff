"""Realistic partner journeys, planned from a seed (pure: no clock, no IO).

A `Journey` is one person's path: touches from several partners (affiliates, influencers,
content sites, mobile networks), then perhaps a conversion, an install with post-install
events (CPI+), a reversal; some journeys come from bots. The same plans drive the HTTP
traffic simulator (`partnerstream simulate`), the load tests and the crash-safety suite,
which turns them straight into canonical events (`canonical_events`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from schemas.events import (
    Click,
    Context,
    Conversion,
    EventBase,
    Impression,
    Install,
    Reversal,
    Source,
)

StepKind = Literal["click", "impression", "conversion", "install", "in_app", "reversal"]

WEB_PARTNERS = ("coupon-hub", "cashback-club", "style-by-mia", "gadget-review-blog", "bizleads")
WEB_CAMPAIGNS = ("acme-summer-sale", "acme-newsletter")
MOBILE_PARTNERS = ("mobidream",)
MOBILE_CAMPAIGNS = ("rocket-ios-install", "rocket-android-install")
PARTNER_TYPES = {
    "coupon-hub": "affiliate", "cashback-club": "affiliate", "style-by-mia": "influencer",
    "gadget-review-blog": "content", "bizleads": "b2b", "mobidream": "mobile_network",
}  # fmt: skip
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BROWSER_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
)


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    offset_s: float  # seconds after the journey starts
    partner_id: str = ""
    campaign_id: str = ""
    event_name: str = ""
    revenue: int = 0  # minor units
    order_id: str = ""
    reversed_amount: int | None = None  # reversal: None = all


@dataclass(frozen=True, slots=True)
class Journey:
    journey_id: str
    advertiser_id: str
    mobile: bool
    bot: bool
    user_agent: str
    start_s: float  # seconds after the simulation starts
    steps: tuple[Step, ...] = field(default_factory=tuple)
    currency: str = "EUR"


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of the journey population (each journey is one person)."""

    mobile: float = 0.25
    bots: float = 0.05
    convert: float = 0.3
    reverse: float = 0.08
    cpi_plus: float = 0.5  # of mobile installs, those that go on to register
    max_touches: int = 5


def plan_journeys(count: int, seed: int, span_s: float, mix: Mix | None = None) -> list[Journey]:
    """`count` journeys starting within `span_s` seconds, reproducible from `seed`."""
    rng = random.Random(seed)
    mix = mix or Mix()
    return [_journey(rng, i, span_s, mix) for i in range(count)]


def _journey(rng: random.Random, i: int, span_s: float, mix: Mix) -> Journey:
    mobile = rng.random() < mix.mobile
    bot = rng.random() < mix.bots
    start = rng.random() * span_s
    jid = f"j{i:07d}-{rng.getrandbits(32):08x}"
    if mobile:
        return Journey(jid, "rocket-app", True, bot, rng.choice(BROWSER_UAS[1:2]), start,
                       _mobile_steps(rng, jid, mix), "USD")  # fmt: skip
    ua = BOT_UA if bot else rng.choice(BROWSER_UAS)
    return Journey(jid, "acme-shop", False, bot, ua, start, _web_steps(rng, jid, mix), "EUR")


def _web_steps(rng: random.Random, jid: str, mix: Mix) -> tuple[Step, ...]:
    n = rng.randint(1, mix.max_touches)
    steps: list[Step] = []
    t = 0.0
    campaign = rng.choice(WEB_CAMPAIGNS)
    for _ in range(n):
        partner = rng.choice(WEB_PARTNERS)
        kind: StepKind = (
            "impression" if partner == "style-by-mia" and rng.random() < 0.5 else "click"
        )
        steps.append(Step(kind, t, partner, campaign))
        t += rng.expovariate(1 / 1800)  # ~30 min apart
    if rng.random() < mix.convert:
        revenue = rng.randint(500, 25_000)
        order = f"o-{jid}"
        steps.append(Step("conversion", t + 60, event_name="purchase", revenue=revenue,
                          order_id=order))  # fmt: skip
        if rng.random() < mix.reverse:
            amount = None if rng.random() < 0.5 else rng.randint(1, revenue)
            steps.append(Step("reversal", t + 3600, order_id=order, reversed_amount=amount))
    return tuple(steps)


def _mobile_steps(rng: random.Random, jid: str, mix: Mix) -> tuple[Step, ...]:
    campaign = rng.choice(MOBILE_CAMPAIGNS)
    steps = [Step("click", 0.0, "mobidream", campaign)]
    ctit = rng.choice((3.0, 45.0, 300.0, 1800.0))  # some too short: click injection
    steps.append(Step("install", ctit, "mobidream", campaign, event_name="install"))
    if rng.random() < mix.cpi_plus:
        steps.append(Step("in_app", ctit + rng.uniform(60, 86_400), event_name="registration"))
        if rng.random() < mix.convert:
            steps.append(Step("in_app", ctit + rng.uniform(86_400, 3 * 86_400),
                              event_name="purchase", revenue=rng.randint(99, 4_999),
                              order_id=f"o-{jid}"))  # fmt: skip
    return tuple(steps)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def canonical_events(
    journeys: Sequence[Journey], start_ms: int, seed: int = 0
) -> Iterator[EventBase]:
    """The journeys as canonical, enriched events (what the collector would publish),
    in the order of their timestamps within each journey."""
    rng = random.Random(seed)
    for journey in journeys:
        visitor = _uuid(rng)
        device = _uuid(rng).upper() if journey.mobile else None
        base_ms = start_ms + int(journey.start_s * 1000)
        context = Context(source=Source.SDK, is_bot=journey.bot, user_agent=journey.user_agent)
        for step in journey.steps:
            ts = datetime.fromtimestamp((base_ms + int(step.offset_s * 1000)) / 1000, tz=UTC)
            common = {
                "event_id": _uuid(rng),
                "ts": ts,
                "received_at": ts,
                "advertiser_id": journey.advertiser_id,
                "context": context,
                "visitor_id": None if journey.mobile else visitor,
                "device_id": device,
            }
            yield _event(step, journey, common)


def _event(step: Step, journey: Journey, common: dict[str, object]) -> EventBase:
    partner: dict[str, object] = {}
    if step.partner_id:
        partner = {"partner_id": step.partner_id, "campaign_id": step.campaign_id,
                   "partner_type": PARTNER_TYPES.get(step.partner_id)}  # fmt: skip
    if step.kind == "click":
        return Click.model_validate(common | partner)
    if step.kind == "impression":
        return Impression.model_validate(common | partner)
    if step.kind == "install":
        return Install.model_validate(common | {"app_id": step.campaign_id})
    if step.kind == "reversal":
        return Reversal.model_validate(common | {"order_id": step.order_id,
                                                 "amount": step.reversed_amount})  # fmt: skip
    return Conversion.model_validate(common | {
        "event_name": step.event_name, "order_id": step.order_id or None,
        "revenue": step.revenue, "currency": journey.currency,
    })  # fmt: skip


# --- click flooding (added for the traffic simulator) ----------------------------------------

FLOOD_PARTNER = "cashback-club"  # a registry partner that floods the app campaigns with clicks
FLOOD_SUB1 = "flood"


def plan_click_floods(
    count: int, seed: int, span_s: float, clicks: tuple[int, int] = (2, 6)
) -> list[Journey]:
    """`count` click-flooding visitors: bursts of clicks on the app campaigns, a second or
    less apart, never followed by an install (the fraud pattern that steals last-click credit
    from organic installs). Reproducible from `seed`; ids start with `f`."""
    rng = random.Random(seed)
    floods: list[Journey] = []
    for i in range(count):
        campaign = rng.choice(MOBILE_CAMPAIGNS)
        offsets = [0.0]
        for _ in range(rng.randint(*clicks) - 1):
            offsets.append(offsets[-1] + rng.uniform(0.05, 1.0))
        steps = tuple(Step("click", t, FLOOD_PARTNER, campaign) for t in offsets)
        jid = f"f{i:07d}-{rng.getrandbits(32):08x}"
        floods.append(Journey(jid, "rocket-app", True, False, BROWSER_UAS[1],
                              rng.random() * span_s, steps, "USD"))  # fmt: skip
    return floods

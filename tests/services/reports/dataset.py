"""A small, fixed data set for the reports, sent through the real attributor.

All times are in March 2026 (UTC); T = 2026-03-10 00:00. Advertiser acme-shop (web):

  v1  click style-by-mia (sale) T+0h, click gadget-review-blog (sale) T+1h,
      click coupon-hub (sale) T+2h, purchase O1 7000 at T+3h                 path of 3
      then purchases O5 1000 (Mar 14 03:00) and O6 500 (Mar 30 03:00), no new touch:
      unattributed (their touches were credited already)
  v2  click coupon-hub (sale) Mar 11 00:00, purchase O2 5001 at 00:30        one touch (sole)
  v3  impression style-by-mia (news) Mar 12 00:00, click cashback-club (news) 10:00,
      purchase O3 3000 at 20:00                                              path of 2
  v4  BOT click coupon-hub (sale) Mar 14 00:00, click gadget-review-blog (sale) 01:00,
      purchase O4 2000 at 02:00 (the bot click is left out: sole gadget),
      refund of 500 of O4 on Mar 15 12:00
  v5  click style-by-mia (sale) Mar 15 00:00, click cashback-club (sale) 01:00, no purchase
  v6  click cashback-club (sale) Mar 16 00:00 flagged ["click_flood"], no purchase
  v7  click coupon-hub (sale) Feb 20 00:00 (before the range), no purchase

Advertiser rocket-app (mobile): five devices d1..d5, each a mobidream click then an install
(CTIT 30, 600, 3600, 5 seconds; d5 has no ctit_seconds but a click_ts 120 s before), and d1
buys for 999 on Mar 21 (inherits the install's credit).

Click flooding (rocket-app): floodnet sends 60 clicks on devices f0..f59 from Mar 22 00:00,
30 s apart. With the first phase come installs on f0, f1, f2 (CTIT 30, 50, 70 hours): judged
before anything was counted, they are credited as usual. The second phase, sent once the
first is stored, holds installs on f3, f4 (CTIT 40, 80 hours) and a purchase of 400 on f3 an
hour after its install: floodnet is now flooding (60 clicks for 3 installs, every CTIT over a
day), so both installs and the purchase are flagged `click_flooding` under every model.

Engine: every streaming model, time-decay half-life ONE HOUR (so the weights are powers of
two), default position (40/20/40) and role (30/20/50) shares; flooding judged from 20 clicks
and 3 timed installs at 10 clicks per install (FLOODING), over a 14-day window.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickhouse_connect.driver.client import Client

from attribution.columns import Model
from attribution.engine import EngineConfig
from attribution.windows import HOUR_MS
from schemas.events import Click, Context, Conversion, EventBase, Impression, Install, Reversal
from services.attributor.service import Attributor, AttributorConfig
from services.attributor.sink import ClickHouseSink
from services.bus.local_bus import LocalBus
from services.bus.local_log import LocalLog
from services.clock import FixedClock
from services.collector.publisher import encode_event
from tracker.postbacks.flooding import FloodRules
from tracker.postbacks.fraud import FloodThresholds

ACME, ROCKET = "acme-shop", "rocket-app"
ACME_KEY, ROCKET_KEY = "dev-acme-read-key", "dev-rocket-read-key"
T = datetime(2026, 3, 10, tzinfo=UTC)
NOW = datetime(2026, 3, 31, 12, tzinfo=UTC)
ENGINE = EngineConfig(half_life_ms=HOUR_MS)
FLOODING = FloodRules(
    FloodThresholds(max_clicks_per_install=10, min_installs=3, min_clicks=20), window_hours=14 * 24
)
MODELS = (
    Model.LAST_TOUCH,
    Model.FIRST_TOUCH,
    Model.LINEAR,
    Model.TIME_DECAY,
    Model.POSITION_BASED,
    Model.ROLE_WEIGHTS,
)
PARTNER_TYPES = {
    "coupon-hub": "affiliate",
    "cashback-club": "affiliate",
    "style-by-mia": "influencer",
    "gadget-review-blog": "content",
    "mobidream": "mobile_network",
    "floodnet": "mobile_network",
}
SALE, NEWS = "acme-summer-sale", "acme-newsletter"
IOS = "rocket-ios-install"
FLOODER = "floodnet"
FLOOD_CLICKS = 60
FLAGGED_INSTALLS = ("rocket-f3-install", "rocket-f4-install")
FLAGGED_PURCHASE = "rocket-f3-purchase"


def at(days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
    return T + timedelta(days=days, hours=hours, seconds=seconds)


def click(
    eid: str,
    partner: str,
    campaign: str,
    ts: datetime,
    *,
    visitor: str | None = None,
    device: str | None = None,
    advertiser: str = ACME,
    bot: bool = False,
    flags: tuple[str, ...] = (),
) -> Click:
    return Click.model_validate(
        {
            "event_id": eid,
            "ts": ts,
            "advertiser_id": advertiser,
            "partner_id": partner,
            "partner_type": PARTNER_TYPES[partner],
            "campaign_id": campaign,
            "visitor_id": visitor,
            "device_id": device,
            "context": Context(is_bot=bot, fraud_flags=flags),
        }
    )


def purchase(eid: str, visitor: str, ts: datetime, order: str, revenue: int) -> Conversion:
    return Conversion(
        event_id=eid,
        ts=ts,
        advertiser_id=ACME,
        visitor_id=visitor,
        event_name="purchase",
        order_id=order,
        revenue=revenue,
        currency="EUR",
    )


def acme_events() -> list[EventBase]:
    return [
        click("acme-v7-click", "coupon-hub", SALE, datetime(2026, 2, 20, tzinfo=UTC),
              visitor="v7"),
        click("acme-v1-click-mia", "style-by-mia", SALE, at(hours=0), visitor="v1"),
        click("acme-v1-click-gadget", "gadget-review-blog", SALE, at(hours=1), visitor="v1"),
        click("acme-v1-click-coupon", "coupon-hub", SALE, at(hours=2), visitor="v1"),
        purchase("acme-conv-O1", "v1", at(hours=3), "O1", 7000),
        click("acme-v2-click-coupon", "coupon-hub", SALE, at(days=1), visitor="v2"),
        purchase("acme-conv-O2", "v2", at(days=1, hours=0.5), "O2", 5001),
        Impression(
            event_id="acme-v3-impression-mia", ts=at(days=2), advertiser_id=ACME,
            partner_id="style-by-mia", partner_type="influencer", campaign_id=NEWS,
            visitor_id="v3",
        ),
        click("acme-v3-click-cashback", "cashback-club", NEWS, at(days=2, hours=10),
              visitor="v3"),
        purchase("acme-conv-O3", "v3", at(days=2, hours=20), "O3", 3000),
        click("acme-v4-bot-coupon", "coupon-hub", SALE, at(days=4), visitor="v4", bot=True),
        click("acme-v4-click-gadget", "gadget-review-blog", SALE, at(days=4, hours=1),
              visitor="v4"),
        purchase("acme-conv-O4", "v4", at(days=4, hours=2), "O4", 2000),
        purchase("acme-conv-O5", "v1", at(days=4, hours=3), "O5", 1000),
        Reversal(
            event_id="acme-refund-O4", ts=at(days=5, hours=12), advertiser_id=ACME, visitor_id="v4",
            order_id="O4", amount=500, currency="EUR", reason="returned",
        ),
        click("acme-v5-click-mia", "style-by-mia", SALE, at(days=5), visitor="v5"),
        click("acme-v5-click-cashback", "cashback-club", SALE, at(days=5, hours=1),
              visitor="v5"),
        click("acme-v6-flagged-cashback", "cashback-club", SALE, at(days=6), visitor="v6",
              flags=("click_flood",)),
        purchase("acme-conv-O6", "v1", at(days=20, hours=3), "O6", 500),
    ]  # fmt: skip


def rocket_events() -> list[EventBase]:
    out: list[EventBase] = []
    ctits: list[float | None] = [30, 600, 3600, 5, None]
    for i, ctit in enumerate(ctits, start=1):
        clicked = at(days=10, hours=i)
        seconds = 120 if ctit is None else ctit
        out.append(
            click(
                f"rocket-d{i}-click", "mobidream", IOS, clicked, advertiser=ROCKET, device=f"d{i}"
            )
        )
        out.append(
            Install(
                event_id=f"rocket-d{i}-install",
                ts=clicked + timedelta(seconds=seconds),
                advertiser_id=ROCKET,
                partner_id="mobidream",
                partner_type="mobile_network",
                campaign_id=IOS,
                device_id=f"d{i}",
                app_id="id1234567890",
                ctit_seconds=ctit,
                click_ts=clicked if ctit is None else None,
            )
        )
    out.append(
        Conversion(
            event_id="rocket-d1-purchase", ts=at(days=11), advertiser_id=ROCKET, device_id="d1",
            event_name="purchase", order_id="R-1", revenue=999, currency="USD",
        )
    )  # fmt: skip
    return out


def flood_click_at(n: int) -> datetime:
    return at(days=12, seconds=30 * n)


def flood_install(n: int, ctit_hours: float) -> Install:
    clicked = flood_click_at(n)
    return Install(
        event_id=f"rocket-f{n}-install", ts=clicked + timedelta(hours=ctit_hours),
        advertiser_id=ROCKET, partner_id=FLOODER, partner_type="mobile_network",
        campaign_id=IOS, device_id=f"f{n}", app_id="id1234567890",
        ctit_seconds=ctit_hours * 3600,
    )  # fmt: skip


def flood_events() -> tuple[list[EventBase], list[EventBase]]:
    """The two phases of floodnet's traffic (module docstring)."""
    clicks: list[EventBase] = [
        click(f"rocket-f{n}-click", FLOODER, IOS, flood_click_at(n), advertiser=ROCKET,
              device=f"f{n}")
        for n in range(FLOOD_CLICKS)
    ]  # fmt: skip
    first = [flood_install(n, hours) for n, hours in enumerate((30, 50, 70))]
    flagged = [flood_install(3, 40), flood_install(4, 80)]
    purchase = Conversion(
        event_id=FLAGGED_PURCHASE, ts=flagged[0].ts + timedelta(hours=1), advertiser_id=ROCKET,
        device_id="f3", event_name="purchase", order_id="R-F3", revenue=400, currency="USD",
    )  # fmt: skip
    return clicks + first, [*flagged, purchase]


def payout_rows() -> list[list[object]]:
    """(conversion_id, conversion_ts, advertiser, partner, type, contract, payout_type, amount)."""
    cpa = ["coupon-hub", "affiliate", "acme-affiliate-cpa", "cpa"]
    revshare = ["acme-content-revshare", "revshare"]
    gadget, mia = (
        ["gadget-review-blog", "content", *revshare],
        ["style-by-mia", "influencer", *revshare],
    )
    o1, o2, o4 = (
        ["acme-conv-O1", at(hours=3), ACME],
        ["acme-conv-O2", at(days=1, hours=0.5), ACME],
        ["acme-conv-O4", at(days=4, hours=2), ACME],
    )
    cpi = ["mobidream", "mobile_network", "rocket-network-cpi", "cpi", 180]
    return [
        [*o1, *cpa, 1250],
        [*o1, *gadget, 112],
        [*o1, *mia, 224],
        [*o2, *cpa, 1250],
        [*o4, *gadget, 160],
        [*o4, *gadget, -40],
        *[[f"rocket-d{i}-install", at(days=10, hours=i), ROCKET, *cpi] for i in range(1, 6)],
    ]


def rejected_rows() -> list[list[object]]:
    """(rejected_id, received_at, advertiser, reason)."""
    return [
        ["rj-1", at(days=1), ACME, "invalid_event"],
        ["rj-2", at(days=3), ACME, "invalid_event"],
        ["rj-3", at(days=3), ACME, "click_id_tampered"],
        ["rj-4", datetime(2026, 2, 1, tzinfo=UTC), ACME, "invalid_event"],  # before the range
        ["rj-5", at(days=3), ROCKET, "invalid_event"],
        ["rj-6", at(days=3), "", "undecodable_record"],  # no advertiser: nobody sees it
    ]


async def _attribute(client: Client, phases: list[list[EventBase]], bus_dir: Path) -> None:
    """Each phase is sent once the previous one is stored (flooding is judged on what came
    before a batch)."""
    log = LocalLog(bus_dir, default_partitions=4)
    bus = LocalBus(log)
    await bus.start()
    config = AttributorConfig(models=MODELS, engine=ENGINE, batch_max_ms=50, flooding=FLOODING)
    attributor = Attributor(
        bus.consumer(["events.v1", "events.dlq.v1"], "reports-tests"),
        ClickHouseSink(client),
        FixedClock(int(NOW.timestamp() * 1000)),
        config,
        partner_types=PARTNER_TYPES,
    )
    task = asyncio.create_task(attributor.run())

    def done(events: int) -> bool:
        written = client.query("SELECT count() FROM events").result_rows[0][0]
        reversed_ = client.query(
            "SELECT count() FROM attribution_credits WHERE is_reversal"
        ).result_rows[0][0]
        return int(written) == events and int(reversed_) == len(MODELS)

    try:
        sent = 0
        for phase in phases:
            await bus.send_batch("events.v1", [encode_event(e) for e in phase])
            sent += len(phase)
            for _ in range(400):
                if done(sent):
                    break
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the attributor did not write the data set in time")
    finally:
        attributor.stop()
        await task
        await bus.stop()


def load(client: Client, bus_dir: Path) -> None:
    """Attribute the events with the real attributor, then add payouts and dead letters."""
    flood_first, flood_second = flood_events()
    phases = [acme_events() + rocket_events() + flood_first, flood_second]
    asyncio.run(_attribute(client, phases, bus_dir))
    client.insert(
        "payouts",
        [[*row[:3], row[3], row[4], row[5], 1, row[6], "", "", row[7],
          "USD" if row[2] == ROCKET else "EUR", NOW, "payouts-test", 0, i]
         for i, row in enumerate(payout_rows())],
        column_names=["conversion_id", "conversion_ts", "advertiser_id", "partner_id",
                      "partner_type", "contract_id", "contract_version", "payout_type", "role",
                      "model", "amount", "currency", "created_at", "kafka_topic",
                      "kafka_partition", "kafka_offset"],
    )  # fmt: skip
    client.insert(
        "rejected_events",
        [[rid, ts, "/v1/events", "sdk", adv, reason, "", 400, "{}", "dlq-test", 0, i]
         for i, (rid, ts, adv, reason) in enumerate(rejected_rows())],
        column_names=["rejected_id", "received_at", "endpoint", "source", "advertiser_id",
                      "reason", "detail", "status_code", "raw", "kafka_topic",
                      "kafka_partition", "kafka_offset"],
    )  # fmt: skip

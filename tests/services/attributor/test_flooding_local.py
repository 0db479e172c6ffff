"""Click flooding through the attributor, the local bus and chDB: a partner that floods clicks
gets its later installs flagged `click_flooding` and not paid (CPI, CPI+), a clean partner of
the same contract is paid as usual, and a restarted attributor rebuilds the same counts from
the store and keeps flagging."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from clickhouse_connect.driver.client import Client

from attribution.columns import Model
from attribution.contracts import load_contracts
from schemas.events import Click, Context, Conversion, EventBase, Install, Source
from services.attributor.service import Attributor, AttributorConfig
from services.attributor.sink import ClickHouseSink
from services.bus.local_bus import LocalBus
from services.bus.local_log import LocalLog
from services.clock import FixedClock
from services.collector.publisher import encode_event
from tests.services.attributor.test_end_to_end_local import REPO, wait_for
from tracker.postbacks.flooding import FloodRules
from tracker.postbacks.fraud import (
    NO_INSTALL,
    FloodThresholds,
    PartnerClickStats,
    click_flooding_report,
)
from tracker.registry import load_registry

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ADV, APP, CAMPAIGN = "rocket-app", "id1234567890", "rocket-ios-install"
FLOODER, CLEAN = "floodnet", "mobidream"  # both mobile networks: CPI 1.80, CPI+ 0.80
# small numbers for a test: 10 clicks per install, judged from 20 clicks and 3 timed installs
THRESHOLDS = FloodThresholds(max_clicks_per_install=10, min_installs=3, min_clicks=20)
RULES = FloodRules(THRESHOLDS, window_hours=14 * 24)
FLOOD_CLICKS = 60


def at(offset: timedelta) -> datetime:
    return T0 + offset


def stamped(event: EventBase) -> EventBase:
    return event.model_copy(update={"received_at": event.ts, "context": Context(source=Source.MMP)})


def click(partner: str, n: int, when: datetime) -> Click:
    return Click(event_id=f"click-{partner}-{n}", ts=when, advertiser_id=ADV, partner_id=partner,
                 partner_type="mobile_network", campaign_id=CAMPAIGN,
                 visitor_id=f"visitor-{partner}-{n}")  # fmt: skip


def install(partner: str, n: int, clicked: datetime, ctit: timedelta) -> Install:
    return Install(event_id=install_id(partner, n), ts=clicked + ctit, advertiser_id=ADV,
                   app_id=APP, visitor_id=f"visitor-{partner}-{n}",
                   device_id=f"device-{partner}-{n}", click_event_id=f"click-{partner}-{n}",
                   ctit_seconds=ctit.total_seconds())  # fmt: skip


def install_id(partner: str, n: int) -> str:
    return f"install-{partner}-{n}"


def registration(partner: str, n: int, when: datetime) -> Conversion:
    """An in-app event keyed by the device only: another journey, linked by install_id."""
    return Conversion(event_id=f"registration-{partner}-{n}", ts=when, advertiser_id=ADV,
                      event_name="registration", device_id=f"device-{partner}-{n}",
                      install_id=install_id(partner, n))  # fmt: skip


FLOOD_AT = [at(timedelta(seconds=30 * n)) for n in range(FLOOD_CLICKS)]
CLEAN_AT = [at(timedelta(hours=70, seconds=30 * n)) for n in range(8)]
HOURS = [timedelta(hours=h) for h in (30, 50, 70, 40, 80, 45)]  # the flooder's CTITs
SECONDS = [timedelta(seconds=s) for s in (60, 120, 300, 90)]  # the clean partner's

# Phase A: every click, and three flooder installs (counted, judged before any was: paid).
PHASE_A = (
    [click(FLOODER, n, t) for n, t in enumerate(FLOOD_AT)]
    + [click(CLEAN, n, t) for n, t in enumerate(CLEAN_AT)]
    + [install(FLOODER, n, FLOOD_AT[n], HOURS[n]) for n in range(3)]
)
# Phase B: 60 clicks for 3 installs, all CTITs over a day: the flooder's next installs are
# flagged; the clean partner's are not.
PHASE_B = [install(FLOODER, n, FLOOD_AT[n], HOURS[n]) for n in (3, 4)] + [
    install(CLEAN, n, CLEAN_AT[n], SECONDS[n]) for n in range(3)
]
# Phase C: registrations after a flagged and a clean install (CPI+ for the clean one only).
PHASE_C = [
    registration(FLOODER, 3, FLOOD_AT[3] + HOURS[3] + timedelta(hours=1)),
    registration(CLEAN, 0, CLEAN_AT[0] + SECONDS[0] + timedelta(hours=1)),
]
# Phase D, after a restart: one more install each.
PHASE_D = [
    install(FLOODER, 5, FLOOD_AT[5], HOURS[5]),
    install(CLEAN, 3, CLEAN_AT[3], SECONDS[3]),
]


def attributor(bus: LocalBus, ch_client: Client) -> Attributor:
    registry = load_registry(REPO / "deploy" / "registry.example.yaml")
    return Attributor(
        bus.consumer(["events.v1", "events.dlq.v1"], "attributor"),
        ClickHouseSink(ch_client),
        FixedClock(int((T0 + timedelta(days=5)).timestamp() * 1000)),
        AttributorConfig(models=tuple(Model)[:5], batch_max_ms=20,
                         flooding=RULES),
        partner_types={FLOODER: "mobile_network", CLEAN: "mobile_network"},
        contracts=load_contracts(registry.contracts),
    )  # fmt: skip


async def send_and_wait(
    bus: LocalBus, ch_client: Client, events: Sequence[EventBase], task: asyncio.Task[None]
) -> None:
    """One phase: send, then wait until the attributor stored all of it."""

    def stored() -> int:
        return int(ch_client.query("SELECT count() FROM events").result_rows[0][0])

    before = stored()
    await bus.send_batch("events.v1", [encode_event(stamped(e)) for e in events])
    await wait_for(lambda: stored() == before + len(events), task)


def counts(stats: PartnerClickStats) -> tuple[object, ...]:
    share, flat = stats.share_ctit_over_24h, stats.ctit_flatness
    return (stats.clicks, stats.installs, None if math.isnan(share) else round(share, 9),
            None if math.isnan(flat) else round(flat, 9), stats.signals)  # fmt: skip


def reported(installs: list[Install]) -> dict[str, tuple[object, ...]]:
    """The report's view of phase A-C: every click, and the installs credited to them."""
    clicks = [e for e in PHASE_A if isinstance(e, Click)]
    installed = {e.click_event_id: e.ts for e in installs}
    ms = [int(installed[c.event_id].timestamp() * 1000) if c.event_id in installed
          else NO_INSTALL for c in clicks]  # fmt: skip
    report = click_flooding_report(
        [c.partner_id for c in clicks],
        np.array([int(c.ts.timestamp() * 1000) for c in clicks], np.int64),
        np.array(ms, np.int64),
        THRESHOLDS,
    )
    return {partner: counts(stats) for partner, stats in report.items()}


async def test_flooding_partner_is_flagged_and_not_paid_across_a_restart(
    tmp_path: Path, ch_client: Client
) -> None:
    bus = LocalBus(LocalLog(tmp_path / "bus", default_partitions=4))
    await bus.start()
    first = attributor(bus, ch_client)
    task = asyncio.create_task(first.run())
    for phase in (PHASE_A, PHASE_B, PHASE_C):
        await send_and_wait(bus, ch_client, phase, task)
    flooder, clean = (ADV, FLOODER), (ADV, CLEAN)
    assert first.flooding.ledger is not None
    before = {key: counts(first.flooding.ledger.stats(key)) for key in (flooder, clean)}
    installs = [e for e in PHASE_A + PHASE_B if isinstance(e, Install)]
    assert {p: before[(ADV, p)] for p in (FLOODER, CLEAN)} == reported(installs)
    assert before[flooder][:3] == (FLOOD_CLICKS, 5, 1.0)
    assert before[flooder][-1][-1] == "click_flooding"  # type: ignore[index]
    assert before[clean][:3] == (8, 3, 0.0)
    assert before[clean][-1] == ()
    first.stop()
    await task

    second = attributor(bus, ch_client)  # a restart: same store, same consumer group
    task = asyncio.create_task(second.run())
    await wait_for(lambda: bool(second.flooding.flooding_partners), task)  # rebuilt from the store
    assert second.flooding.ledger is not None
    assert {key: counts(second.flooding.ledger.stats(key)) for key in (flooder, clean)} == before
    assert second.flooding.flooding_partners == {flooder}
    await send_and_wait(bus, ch_client, PHASE_D, task)
    second.stop()
    await task
    await bus.stop()

    credits = ch_client.query(
        "SELECT conversion_id, model, partner_id, fraud_flags FROM attribution_credits "
        "ORDER BY conversion_id, model"
    ).result_rows
    flagged = {c for c, _, _, flags in credits if flags == ["click_flooding"]}
    assert flagged == {
        install_id(FLOODER, 3), install_id(FLOODER, 4), install_id(FLOODER, 5),
        f"registration-{FLOODER}-3",  # inherits the flagged install's touch
    }  # fmt: skip
    # every model's row of a flagged install carries the flag, and the credit stays recorded
    rows = [(m, p, f) for c, m, p, f in credits if c == install_id(FLOODER, 4)]
    assert rows == [(m.name.lower(), FLOODER, ["click_flooding"]) for m in sorted(
        tuple(Model)[:5], key=lambda m: m.name.lower())]  # fmt: skip
    assert {c for c, *_ in credits} == {
        *(install_id(FLOODER, n) for n in range(6)), *(install_id(CLEAN, n) for n in range(4)),
        f"registration-{FLOODER}-3", f"registration-{CLEAN}-0",
    }  # fmt: skip

    payouts = ch_client.query(
        "SELECT conversion_id, partner_id, payout_type, amount FROM payouts ORDER BY conversion_id"
    ).result_rows
    assert payouts == sorted(
        [(install_id(FLOODER, n), FLOODER, "cpi", 180) for n in range(3)]  # before the flag
        + [(install_id(CLEAN, n), CLEAN, "cpi", 180) for n in range(4)]
        + [(f"registration-{CLEAN}-0", CLEAN, "cpi_plus", 80)]
    )

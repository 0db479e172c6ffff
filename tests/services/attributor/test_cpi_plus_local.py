"""A mobile partner's CPI+ story through the attributor and ClickHouse: click -> install
(keyed by the click's visitor) -> in-app events keyed by the device only (another journey)
-> reversal. The install is credited to the click's partner, the in-app events inherit it
across journeys, CPI and CPI+ are paid once, the reversal takes revenue back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickhouse_connect.driver.client import Client

from attribution.columns import Model
from attribution.contracts import load_contracts
from schemas.events import Click, Context, Conversion, EventBase, Install, Reversal, Source
from services.attributor.service import Attributor, AttributorConfig
from services.attributor.sink import ClickHouseSink
from services.bus.local_bus import LocalBus
from services.bus.local_log import LocalLog
from services.clock import FixedClock
from services.collector.publisher import encode_event
from tests.services.attributor.test_end_to_end_local import REPO, wait_for
from tracker.registry import load_registry

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
VISITOR, DEVICE = "7d0f5d1e-0000-4000-8000-000000000001", "AAAA-BBBB-CCCC-DDDD"
CLICK_ID, INSTALL_ID = (
    "01a207d9-2100-74f1-8007-485fc0cc0c75",
    "5b0e6a4c-1111-5222-9333-444455556666",
)


def stamped(event: EventBase, at: datetime) -> EventBase:
    return event.model_copy(update={"received_at": at, "context": Context(source=Source.MMP)})


def story() -> list[EventBase]:
    common = {"advertiser_id": "rocket-app"}
    at = [T0 + timedelta(seconds=s) for s in (0, 45, 400, 500, 86_400, 90_000)]
    events: list[EventBase] = [
        Click(event_id=CLICK_ID, ts=at[0], partner_id="mobidream", campaign_id="rocket-ios-install",
              partner_type="mobile_network", visitor_id=VISITOR, **common),
        Install(event_id=INSTALL_ID, ts=at[1], app_id="id1234567890", visitor_id=VISITOR,
                device_id=DEVICE, click_event_id=CLICK_ID, ctit_seconds=45.0, **common),
        Conversion(event_id="evt-registration-1", ts=at[2], event_name="registration",
                   device_id=DEVICE, install_id=INSTALL_ID, **common),
        Conversion(event_id="evt-registration-2", ts=at[3], event_name="registration",
                   device_id=DEVICE, install_id=INSTALL_ID, **common),
        Conversion(event_id="evt-purchase-1", ts=at[4], event_name="purchase", order_id="R-1",
                   revenue=4999, currency="USD", device_id=DEVICE, install_id=INSTALL_ID, **common),
        Reversal(event_id="evt-reversal-1", ts=at[5], order_id="R-1", amount=1000,
                 reason="returned", device_id=DEVICE, **common),
    ]  # fmt: skip
    return [stamped(e, e.ts) for e in events]


async def test_cpi_plus_story_is_credited_and_paid_once(tmp_path: Path, ch_client: Client) -> None:
    log = LocalLog(tmp_path / "bus", default_partitions=4)
    bus = LocalBus(log)
    await bus.start()
    events = story()
    keys = {encode_event(e)[0] for e in events}
    assert keys == {f"v:{VISITOR}".encode(), f"d:{DEVICE}".encode()}  # two journeys
    for event in events:  # one at a time: each its own batch, as they would arrive
        await bus.send_batch("events.v1", [encode_event(event)])
    registry = load_registry(REPO / "deploy" / "registry.example.yaml")
    attributor = Attributor(
        bus.consumer(["events.v1", "events.dlq.v1"], "attributor"),
        ClickHouseSink(ch_client),
        FixedClock(int((T0 + timedelta(days=2)).timestamp() * 1000)),
        AttributorConfig(models=tuple(Model)[:5], batch_max_ms=20,
                         batch_max_records=1),
        partner_types={p.id: p.partner_type for p in registry.partners.values()},
        contracts=load_contracts(registry.contracts),
    )  # fmt: skip
    task = asyncio.create_task(attributor.run())

    def stored_events() -> int:
        return int(ch_client.query("SELECT count() FROM events").result_rows[0][0])

    await wait_for(lambda: stored_events() == len(events), task)
    attributor.stop()
    await task
    await bus.stop()

    credits = ch_client.query(
        "SELECT event_name, partner_id, role, credited_revenue, is_reversal "
        "FROM attribution_credits WHERE model = 'last_touch' "
        "ORDER BY conversion_ts, is_reversal"
    ).result_rows
    assert credits == [
        ("install", "mobidream", "sole", 0, False),
        ("registration", "mobidream", "sole", 0, False),
        ("registration", "mobidream", "sole", 0, False),
        ("purchase", "mobidream", "sole", 4999, False),
        ("purchase", "mobidream", "sole", -1000, True),  # the partial reversal
    ]
    payouts = ch_client.query(
        "SELECT payout_type, amount, currency, contract_id, install_id FROM payouts "
        "ORDER BY conversion_ts"
    ).result_rows
    # rocket-network-cpi-plus: CPI 1.80 per install; CPI+ 0.80 once per install when a
    # registration follows within 7 days (the second registration pays nothing)
    assert payouts == [
        ("cpi", 180, "USD", "rocket-network-cpi-plus", ""),
        ("cpi_plus", 80, "USD", "rocket-network-cpi-plus", INSTALL_ID),
    ]


async def test_skan_installs_are_credited_to_the_network_owner(
    tmp_path: Path, ch_client: Client
) -> None:
    """Apple's postbacks carry no touch: the install of a won postback (sequence 0) goes to
    the partner owning the ad network (set by the collector), and pays its CPI once; the
    later postbacks of the same install (sequence 1, 2) are not new installs."""
    log = LocalLog(tmp_path / "bus", default_partitions=2)
    bus = LocalBus(log)
    await bus.start()
    skan = Context(source=Source.SKAN)
    installs = [
        Install(event_id=f"skan-install-{seq}", ts=T0, received_at=T0, app_id="id1234567890",
                advertiser_id="rocket-app", partner_id="mobidream", partner_type="mobile_network",
                sub1="mobidream.skadnetwork", sub2=str(seq), sub3="true", context=skan,
                transaction_id="6aafb7a5-0170-41b5-bbe4-fe71dedf1e30")
        for seq in (0, 1)
    ]  # fmt: skip
    await bus.send_batch("events.v1", [encode_event(e) for e in installs])
    registry = load_registry(REPO / "deploy" / "registry.example.yaml")
    attributor = Attributor(
        bus.consumer(["events.v1", "events.dlq.v1"], "attributor"),
        ClickHouseSink(ch_client),
        FixedClock(int((T0 + timedelta(hours=1)).timestamp() * 1000)),
        AttributorConfig(models=tuple(Model)[:5], batch_max_ms=20),
        partner_types={p.id: p.partner_type for p in registry.partners.values()},
        contracts=load_contracts(registry.contracts),
    )
    task = asyncio.create_task(attributor.run())

    def stored() -> int:
        return int(ch_client.query("SELECT count() FROM events").result_rows[0][0])

    await wait_for(lambda: stored() == 2, task)
    attributor.stop()
    await task
    await bus.stop()
    credits = ch_client.query(
        "SELECT conversion_id, partner_id, role, weight FROM attribution_credits "
        "WHERE model = 'last_touch'"
    ).result_rows
    assert credits == [("skan-install-0", "mobidream", "sole", 1.0)]
    payouts = ch_client.query("SELECT conversion_id, payout_type, amount FROM payouts").result_rows
    assert payouts == [("skan-install-0", "cpi", 180)]


async def test_post_install_event_waits_for_an_install_credited_elsewhere(
    tmp_path: Path, ch_client: Client
) -> None:
    """A registration whose install another attributor instance credits (its partition is
    not ours) stays pending, survives a restart (rebuilt from the store), and is credited
    from the stored install credits once they appear."""
    clock = FixedClock(int((T0 + timedelta(days=2)).timestamp() * 1000))

    def attributor_on(bus: LocalBus) -> Attributor:
        return Attributor(
            bus.consumer(["events.v1", "events.dlq.v1"], "attributor"), ClickHouseSink(ch_client),
            clock, AttributorConfig(models=(Model.LAST_TOUCH,), batch_max_ms=20),
        )  # fmt: skip

    registration = stamped(
        Conversion(event_id="evt-registration-x", ts=T0 + timedelta(seconds=400),
                   event_name="registration", device_id=DEVICE, install_id=INSTALL_ID,
                   advertiser_id="rocket-app"),
        T0 + timedelta(seconds=400),
    )  # fmt: skip
    log = LocalLog(tmp_path / "bus", default_partitions=2)
    bus = LocalBus(log)
    await bus.start()
    await bus.send_batch("events.v1", [encode_event(registration)])
    first = attributor_on(bus)
    task = asyncio.create_task(first.run())
    await wait_for(
        lambda: ch_client.query("SELECT count() FROM events").result_rows == [(1,)], task
    )
    first.stop()
    await task
    assert ch_client.query("SELECT count() FROM attribution_credits").result_rows == [(0,)]

    # another instance credits the install to mobidream
    ch_client.insert(
        "attribution_credits",
        [[INSTALL_ID, T0 + timedelta(seconds=45), 4242, "rocket-app", "mobidream",
          "mobile_network", "install", "last_touch", "sole", 0, 1, 1.0, 0]],
        column_names=["conversion_id", "conversion_ts", "touch_key", "advertiser_id",
                      "partner_id", "partner_type", "event_name", "model", "role", "position",
                      "path_length", "weight", "credited_revenue"],
    )  # fmt: skip
    second = attributor_on(bus)  # a restart: the pending registration is rebuilt from the store
    task = asyncio.create_task(second.run())
    await wait_for(lambda: len(second.pending_orphans) == 1, task)
    later = stamped(
        Click(event_id="evt-later-click", ts=T0 + timedelta(days=1), partner_id="mobidream",
              campaign_id="rocket-ios-install", visitor_id="someone-else",
              advertiser_id="rocket-app"),
        T0 + timedelta(days=1),
    )  # fmt: skip
    await bus.send_batch("events.v1", [encode_event(later)])  # any batch triggers the check

    def inherited() -> list[tuple[str, str, str]]:
        return ch_client.query(
            "SELECT conversion_id, partner_id, role FROM attribution_credits "
            "WHERE conversion_id = 'evt-registration-x'"
        ).result_rows

    await wait_for(lambda: inherited() == [("evt-registration-x", "mobidream", "sole")], task)
    second.stop()
    await task
    await bus.stop()
    assert second.pending_orphans == {}

"""`FloodStage` on hand-built batches: which credit rows are flagged, what the contract rules
see, what is counted (no store: the ledger is fed directly)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from attribution.columns import Conversions, Credits, Model, Role
from attribution.contracts import load_contracts
from attribution.ids import NONE_ID, hash_id
from attribution.payouts import compute_payouts
from schemas.events import Click, Context, EventBase, Install
from services.attributor.decode import DecodedBatch, decode_records
from services.attributor.factory import attributor_config
from services.attributor.flooding import (
    CLICKS_QUERY,
    FLAGGED_QUERY,
    INSTALLS_QUERY,
    NEWEST_QUERY,
    WRITTEN_QUERY,
    FloodStage,
    flood_rules,
)
from services.bus.records import Record
from services.collector.publisher import encode_event
from services.errors import ConfigError
from services.settings import AttributorSettings, load
from tracker.postbacks.flooding import FloodRules
from tracker.postbacks.fraud import FloodThresholds

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MS0 = int(T0.timestamp() * 1000)
ADV, FLOODER, CLEAN = "rocket-app", "floodnet", "mobidream"
RULES = FloodRules(FloodThresholds(max_clicks_per_install=10, min_installs=3, min_clicks=20), 48)
MODELS = (Model.LAST_TOUCH, Model.LINEAR)


def batch(events: Sequence[EventBase]) -> DecodedBatch:
    records = []
    for offset, event in enumerate(events):
        key, value = encode_event(event.model_copy(update={"received_at": event.ts}))
        records.append(Record("events.v1", 0, offset, key, value, MS0))
    return decode_records(records)


def flooding_stage() -> FloodStage:
    """A stage whose ledger already holds a flooder: 100 clicks, 4 installs a day or more late."""
    stage = FloodStage(RULES, MODELS, retention_ms=60 * 86_400_000)
    assert stage.ledger is not None
    stage.ledger.add_clicks([(ADV, FLOODER)] * 100, [MS0] * 100)
    stage.ledger.add_installs([(ADV, FLOODER)] * 4, [MS0] * 4, [40 * 3600.0] * 4)
    stage.ledger.add_clicks([(ADV, CLEAN)] * 30, [MS0] * 30)
    stage.ledger.add_installs([(ADV, CLEAN)] * 10, [MS0] * 10, [60.0] * 10)
    assert stage.ledger.flooding((ADV, FLOODER))
    assert not stage.ledger.flooding((ADV, CLEAN))
    return stage


def clicks_and_install() -> list[EventBase]:
    """A clean click, a flooder click, then the install (one visitor): a path of two."""
    common = {"advertiser_id": ADV, "visitor_id": "v-1", "partner_type": "mobile_network"}
    return [
        Click(event_id="click-clean", ts=T0, partner_id=CLEAN, campaign_id="app", **common),
        Click(event_id="click-flood", ts=T0 + timedelta(minutes=1), partner_id=FLOODER,
              campaign_id="app", **common),
        Click(event_id="click-bot", ts=T0 + timedelta(minutes=2), partner_id=FLOODER,
              campaign_id="app", context=Context(is_bot=True), **common),
        Install(event_id="install-1", ts=T0 + timedelta(hours=30), app_id="id1",
                ctit_seconds=30 * 3600.0, advertiser_id=ADV, visitor_id="v-1"),
    ]  # fmt: skip


def credits_of(rows: Sequence[tuple[str, str, str, Model, int, float]]) -> Credits:
    """(conversion, touch, partner, model, position, weight) rows; paths of length 2."""
    n = len(rows)
    return Credits(
        conversion_id=np.array([hash_id(r[0]) for r in rows], np.int64),
        touch_id=np.array([hash_id(r[1]) if r[1] else NONE_ID for r in rows], np.int64),
        partner_id=np.array([hash_id(r[2]) for r in rows], np.int64),
        role=np.array([Role.CLOSER if r[4] else Role.INTRODUCER for r in rows], np.int8),
        model=np.array([r[3] for r in rows], np.int8),
        position=np.array([r[4] for r in rows], np.int32),
        path_length=np.full(n, 2, np.int32),
        weight=np.array([r[5] for r in rows]),
        credited_revenue=np.zeros(n, np.int64),
    )


INSTALL_CREDITS = [
    ("install-1", "click-flood", FLOODER, Model.LAST_TOUCH, 1, 1.0),
    ("install-1", "click-clean", CLEAN, Model.LINEAR, 0, 0.5),
    ("install-1", "click-flood", FLOODER, Model.LINEAR, 1, 0.5),
]
NAMES = {hash_id(p): p for p in (FLOODER, CLEAN)}


def test_the_flooders_rows_are_flagged_and_the_others_keep_their_share() -> None:
    stage = flooding_stage()
    decoded = batch(clicks_and_install())
    credits = credits_of(INSTALL_CREDITS)
    stage.observe(decoded, credits, NAMES)

    assert stage.flagged(credits.touch_id).tolist() == [True, False, True]
    assert stage.flooding_partners == {(ADV, FLOODER)}
    cols = stage.with_flags({"touch_key": credits.touch_id.tolist()})
    assert cols["fraud_flags"] == [["click_flooding"], [], ["click_flooding"]]

    # A CPI split linearly over the path: the clean partner's half is paid either way, the
    # flooder's half is not paid to anyone.
    book = load_contracts([{
        "id": "net-cpi", "advertiser": ADV, "partner_type": "mobile_network", "currency": "USD",
        "versions": [{"version": 1, "effective_from": "2025-06-01", "cpi": 300,
                      "split": {"model": "linear"}}],
    }])  # fmt: skip
    conversions = Conversions(
        *(np.array([v], np.int64) for v in (hash_id("install-1"), hash_id("v:v-1"), MS0,
          hash_id(ADV), hash_id("install"), 0, 0, hash_id("USD"), 0))
    )  # fmt: skip
    types = {hash_id(p): hash_id("mobile_network") for p in (FLOODER, CLEAN)}

    def paid(c: Credits) -> list[tuple[int, int]]:
        out = compute_payouts(c, conversions, book.index(hash_id=hash_id), partner_types=types)
        return sorted(
            zip(out.payouts.partner_id.tolist(), out.payouts.amount.tolist(), strict=True)
        )

    assert paid(credits) == sorted([(hash_id(CLEAN), 150), (hash_id(FLOODER), 150)])
    assert paid(stage.payable(credits)) == [(hash_id(CLEAN), 150)]
    assert stage.payable(credits).partner_id.tolist()[1] == hash_id(CLEAN)


def test_later_credits_of_a_flagged_touch_are_flagged() -> None:
    """An in-app event (or a reversal) credited to the flagged click inherits the flag."""
    stage = flooding_stage()
    stage.observe(batch(clicks_and_install()), credits_of(INSTALL_CREDITS), NAMES)
    later = credits_of([
        ("purchase-1", "click-flood", FLOODER, Model.LAST_TOUCH, 1, 1.0),
        ("purchase-2", "click-clean", CLEAN, Model.LAST_TOUCH, 0, 1.0),
    ])  # fmt: skip
    assert stage.payable(later).partner_id.tolist() == [NONE_ID, hash_id(CLEAN)]
    cols = stage.with_flags({"touch_key": later.touch_id.tolist(), "model": ["a", "b"]})
    assert cols["fraud_flags"] == [["click_flooding"], []]


def test_counts_the_batch_after_judging_it() -> None:
    """Non-bot clicks with a partner count; the install counts once, for its last touch."""
    stage = FloodStage(RULES, MODELS, retention_ms=86_400_000)
    assert stage.ledger is not None
    stage.observe(batch(clicks_and_install()), credits_of(INSTALL_CREDITS), NAMES)
    flooder, clean = stage.ledger.stats((ADV, FLOODER)), stage.ledger.stats((ADV, CLEAN))
    assert (flooder.clicks, flooder.installs, flooder.share_ctit_over_24h) == (1, 1, 1.0)
    assert (clean.clicks, clean.installs) == (1, 0)
    assert not stage.flagged(credits_of(INSTALL_CREDITS).touch_id).any()  # nothing known before
    assert stage.ledger.newest_hour == (MS0 + 30 * 3_600_000) // 3_600_000


def test_apple_installs_are_neither_counted_nor_flagged() -> None:
    stage = flooding_stage()
    assert stage.ledger is not None
    before = stage.ledger.stats((ADV, FLOODER)).installs
    skan = [
        Install(event_id="install-1", ts=T0, app_id="id1", advertiser_id=ADV, partner_id=FLOODER)
    ]
    credits = credits_of([("install-1", "", FLOODER, Model.LAST_TOUCH, 0, 1.0)])
    stage.observe(batch(skan), credits, NAMES)
    assert stage.ledger.stats((ADV, FLOODER)).installs == before
    assert stage.payable(credits).partner_id.tolist() == [hash_id(FLOODER)]


@pytest.mark.parametrize("judging", [True, False])
def test_a_recorded_flag_is_honoured_even_with_detection_off(judging: bool) -> None:
    stage = FloodStage(RULES if judging else None, MODELS, retention_ms=86_400_000)
    credits = credits_of(INSTALL_CREDITS)
    stage.observe(batch(clicks_and_install()), credits, NAMES)
    assert stage.payable(credits) is credits  # nothing flagged: the same credits
    stage.remember(hash_id("click-flood"), MS0)  # read back from attribution_credits
    assert stage.payable(credits).partner_id.tolist() == [NONE_ID, hash_id(CLEAN), NONE_ID]
    assert stage.with_flags({"touch_key": []}) == {"touch_key": []}


def test_rules_come_from_the_attributor_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNERSTREAM_FLOOD_WINDOW_HOURS", "12")
    monkeypatch.setenv("PARTNERSTREAM_FLOOD_MAX_CLICKS_PER_INSTALL", "50")
    settings = load(AttributorSettings, flood_min_clicks=5, flood_max_ctit_flatness=0.8)
    rules = attributor_config(settings).flooding
    assert rules == FloodRules(
        FloodThresholds(max_clicks_per_install=50, min_clicks=5, max_ctit_flatness=0.8), 12
    )
    assert flood_rules(load(AttributorSettings, flood_detection=False)) is None
    with pytest.raises(ConfigError, match="PARTNERSTREAM_FLOOD_MAX_CTIT_FLATNESS"):
        load(AttributorSettings, flood_max_ctit_flatness=1.5)


class StoreAfterCrash:
    """What `FloodStage.rebuild` reads when a flooder's counts are stored and the credits of
    the records up to `written` are too (the crash came before their event rows)."""

    def __init__(self, written: int) -> None:
        self.written = written

    def query_rows(self, sql: str, parameters: Any) -> list[tuple[Any, ...]]:
        hour = MS0 // 3_600_000
        return {
            FLAGGED_QUERY: [],
            WRITTEN_QUERY: [(0, self.written)],
            NEWEST_QUERY: [(1, MS0)],
            CLICKS_QUERY: [(ADV, FLOODER, hour, 100)],
            INSTALLS_QUERY: [(ADV, FLOODER, MS0, 40 * 3600.0)] * 4,
        }[sql]


@pytest.mark.parametrize(("written", "flagged"), [(2, True), (3, False), (-1, True)])
def test_an_install_whose_credits_are_stored_is_not_judged_again(
    written: int, flagged: bool
) -> None:
    """The install (offset 3) is replayed: with its credits stored (written >= 3) the stored,
    unflagged verdict stands though the rebuilt counts say flooding; it still counts."""
    stage = FloodStage(RULES, MODELS, retention_ms=60 * 86_400_000)
    stage.rebuild(StoreAfterCrash(written), "events.v1", [0], MS0)  # type: ignore[arg-type]
    assert stage.ledger is not None
    assert stage.ledger.flooding((ADV, FLOODER))
    credits = credits_of(INSTALL_CREDITS)
    stage.observe(batch(clicks_and_install()), credits, NAMES)
    assert stage.flagged(credits.touch_id).tolist() == [flagged, False, flagged]
    assert stage.ledger.stats((ADV, FLOODER)).installs == 5

"""`FloodStage.observe` (columnar) counts and flags exactly what a plain row-by-row reading of
the same batches does: the same ledger counts hour by hour, the same flagged touches, the
same partners judged flooding, batch after batch on simulated traffic with floods."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np

from attribution.columns import Credits, Model
from attribution.engine import EngineConfig
from attribution.ids import NONE_ID
from attribution.state import JourneyState
from schemas.events import Click, EventBase, Install, PartnerType
from services.attributor.decode import DecodedBatch, conversions_of, decode_records, touches_of
from services.attributor.flooding import FloodStage
from services.bus.records import Record
from services.collector.publisher import encode_event
from services.simulation.journeys import Mix, canonical_events, plan_click_floods, plan_journeys
from tracker.postbacks.flooding import FloodRules
from tracker.postbacks.fraud import FloodThresholds

START_MS = 1_795_428_000_000
MODELS = (Model.LAST_TOUCH, Model.LINEAR, Model.FIRST_TOUCH)
RULES = FloodRules(FloodThresholds(max_clicks_per_install=2, min_installs=2, min_clicks=5), 48)


class RowByRowStage(FloodStage):
    """The stage as first written: Python over the rows of each batch (the reference)."""

    def observe(self, decoded: DecodedBatch, credits: Credits, names: Mapping[int, str]) -> None:
        assert self.ledger is not None
        cols = decoded.events
        kind, keys, adv = cols["type"], cols["event_key"], cols["advertiser_id"]
        installs = {keys[r]: r for r in decoded.conversion_rows if kind[r] == "install"}
        columns = (credits.conversion_id, credits.touch_id, credits.partner_id)
        credited = [
            (i, installs[k], (adv[installs[k]], names.get(p, str(p))))
            for i, (k, t, p) in enumerate(zip(*(c.tolist() for c in columns), strict=True))
            if k in installs and t != NONE_ID
        ]
        verdicts: dict[tuple[str, str], bool] = {}
        for credit, row, key in credited:
            if key not in verdicts:
                verdicts[key] = self.ledger.flooding(key)
                self._log_change(key, verdicts[key])
            if verdicts[key]:
                self.remember(int(credits.touch_id[credit]), cols["ts_ms"][row])
        bot, partner, received = cols["is_bot"], cols["partner_id"], cols["received_at"]
        clicks = [r for r in decoded.touch_rows if kind[r] == "click" and not bot[r] and partner[r]]
        self.ledger.add_clicks(
            [(adv[r], partner[r]) for r in clicks], [received[r] for r in clicks]
        )
        best: dict[int, tuple[int, tuple[int, int, tuple[str, str]]]] = {}
        for c in credited:
            if int(credits.model[c[0]]) != self.count_model:
                continue
            position = int(credits.position[c[0]])
            if c[1] not in best or position > best[c[1]][0]:
                best[c[1]] = (position, c)
        counted = [c for _, c in best.values()]
        self.ledger.add_installs(
            [c[2] for c in counted],
            [received[c[1]] for c in counted],
            [cols["ctit_seconds"][c[1]] for c in counted],
        )
        kept = decoded.touch_rows + decoded.conversion_rows + decoded.reversal_rows
        if kept and self.ledger.advance(max(received[r] for r in kept)):
            self._evict()


def flooder(visitors: int) -> list[EventBase]:
    """`floodnet` clicks five times per visitor; a third of them install 30 hours later."""
    t0 = datetime.fromtimestamp(START_MS / 1000, UTC)
    out: list[EventBase] = []
    for i in range(visitors):
        common = {"advertiser_id": "rocket-app", "visitor_id": f"flood-visitor-{i:04d}"}
        at = t0 + timedelta(minutes=7 * i)
        out += [Click(event_id=f"flood-click-{i:04d}-{k}", ts=at + timedelta(seconds=k),
                      partner_id="floodnet", partner_type=PartnerType.MOBILE_NETWORK,
                      campaign_id="rocket-ios-install", **common)
                for k in range(5)]  # fmt: skip
        if i % 3 == 0:
            install = Install(
                event_id=f"flood-install-{i:04d}",
                ts=at + timedelta(hours=30),
                app_id="id1234567890",
                ctit_seconds=30 * 3600.0,
                **common,
            )
            out.append(install)
    return out


def batches(count: int, size: int) -> list[list[Record]]:
    mix = Mix(mobile=0.7, bots=0.1, reverse=0.05)
    journeys = plan_journeys(900, 5, 3 * 86_400.0, mix) + plan_click_floods(300, 5, 86_400.0)
    simulated = list(canonical_events(journeys, START_MS, 5)) + flooder(400)
    events = sorted(simulated, key=lambda e: e.ts)
    records = [Record("events.v1", 0, i, *encode_event(e), START_MS) for i, e in enumerate(events)]
    return [records[i : i + size] for i in range(0, min(len(records), count * size), size)]


def ledger_state(stage: FloodStage) -> tuple[object, ...]:
    assert stage.ledger is not None
    hours = {
        (key, hour): counts.tolist()
        for key, buckets in stage.ledger._hours.items()
        for hour, counts in buckets.items()
    }
    return hours, stage.ledger.newest_hour, dict(stage._flagged), stage.flooding_partners


def test_observe_counts_and_flags_as_a_row_by_row_reading_does() -> None:
    columnar = FloodStage(RULES, MODELS, retention_ms=60 * 86_400_000)
    reference = RowByRowStage(RULES, MODELS, retention_ms=60 * 86_400_000)
    state = JourneyState(EngineConfig(), MODELS)
    flagged_any = False
    for records in batches(12, 500):
        decoded = decode_records(records)
        credits = state.append(touches_of(decoded), conversions_of(decoded), None).credits
        columnar.observe(decoded, credits, decoded.names)
        reference.observe(decode_records(records), credits, decoded.names)
        assert ledger_state(columnar) == ledger_state(reference)
        flagged_any = flagged_any or bool(columnar._flagged)
    assert flagged_any, "the simulated floods should have flagged some installs"
    assert columnar.flagged(np.array(sorted(reference._flagged), np.int64)).all()

"""Click flooding in the attributor: installs won by a flooding partner are flagged, not paid.

The collector cannot judge flooding (an install's partner is known only once the engine
credited its click), so the attributor keeps a `FloodLedger` (pure, `tracker.postbacks
.flooding`) per (advertiser, partner) as batches pass: non-bot clicks with a partner, and
credited installs (the partner of the install's last touch) with the CTIT the collector
recorded on the install, both by receive time.

**Semantics** (what Protect360 or Adjust's fraud prevention do with a flooded install: the
flooding source is not credited for pay and not paid):

* An install is judged against the counts of everything before its batch. When a partner
  credited on it is flooding at that moment, that partner's credit rows of the install (every
  model) are flagged `click_flooding` in `attribution_credits.fraud_flags`, and so are later
  credit rows of the same touches: the install's in-app events (same journey, or across
  journeys via `install_id`) and reversals.
* The engine's attribution is unchanged: the install is not handed to the next touch (like
  a blocked install, it is not re-attributed), other partners' rows are not flagged, and the
  shares of a multi-touch path stay what they were.
* Payouts: flagged rows reach the contract rules without a partner (`NONE_ID`), so no
  contract resolves for them: no CPI, CPA, revenue share, bonus or CPI+ for the flooder,
  while the other partners on the path get exactly their share. Caps and the CPI+ ledger
  only see what was paid, so they rebuild from `payouts` as before.
* Apple (SKAN / AdAttributionKit) installs carry no click of ours (`touch_key` 0): they are
  neither counted nor flagged.

**State after a restart.** On every assignment the ledger is rebuilt from the store for the
assigned partitions: its clock is the newest receive time in `events`, clicks are counted per
hour there, installs from their credits joined to their events (an install whose event row is
not written yet is replayed and counted then). Flagged touches are read back from
`attribution_credits` over the retention, from every partition (an install's in-app events
may live in another one). An install replayed after a crash that fell between the credits
insert and the events insert (credits stored, event not) is counted again but not judged
again: the stored verdict stands, whatever the rebuilt counts would say now.

What a restart does not reproduce exactly: an install is judged against the counts of what
was consumed before its batch, and a restart cuts the stream into other batches (as the
linger time already does), so the verdict of an install near a partner's threshold crossing
can differ from an uninterrupted run's. Every verdict is still made once and stored once;
tests/services/attributor/test_crash_safety.py kills the attributor with detection on and a
flooder in the stream.

The counts are those of the partitions an instance holds: partitions split journeys by
visitor, so ratios and CTIT shapes are the same, but `min_clicks` / `min_installs` are met
later with many instances. Clicks are counted per (advertiser, partner) whatever their
campaign: web clicks of the same partner raise the ratio, which is why a CTIT signal is also
required.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple, overload

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from attribution.columns import Credits, Model, TouchFlag
from attribution.ids import NONE_ID
from services.attributor.decode import DecodedBatch
from services.attributor.metrics import AttributorMetrics
from services.attributor.rows import MODEL_NAMES, Columns
from services.attributor.sink import Sink
from services.settings import AttributorSettings
from tracker.postbacks.flooding import FloodLedger, FloodRules, Key
from tracker.postbacks.fraud import CLICK_FLOODING, HOUR_MS, FloodThresholds

log = logging.getLogger("partnerstream.attributor")
TOUCH_CLICK = 1  # DecodedBatch.codes of a click

PARTITIONS = "kafka_topic = {topic:String} AND kafka_partition IN {parts:Array(Int32)}"
NEWEST_QUERY = (
    "SELECT count(), max(toUnixTimestamp64Milli(received_at)) FROM events WHERE " + PARTITIONS
)
CLICKS_QUERY = (
    "SELECT advertiser_id, partner_id, intDiv(toUnixTimestamp64Milli(received_at), 3600000) "
    "AS hour, count() FROM events WHERE " + PARTITIONS + " AND type = 'click' AND NOT is_bot "
    "AND partner_id != '' AND received_at >= fromUnixTimestamp64Milli({since:Int64}) "
    "GROUP BY advertiser_id, partner_id, hour"
)
INSTALLS_QUERY = (
    "SELECT c.advertiser_id, c.partner_id, toUnixTimestamp64Milli(e.received_at), "
    "e.ctit_seconds FROM (SELECT conversion_id, any(advertiser_id) AS advertiser_id, "
    "argMax(partner_id, position) AS partner_id FROM attribution_credits WHERE " + PARTITIONS
    + " AND event_name = 'install' AND model = {model:String} AND NOT is_reversal "
    "AND touch_key != 0 AND conversion_ts >= fromUnixTimestamp64Milli({oldest:Int64}) "
    "GROUP BY conversion_id) AS c INNER JOIN (SELECT event_id, received_at, ctit_seconds "
    "FROM events WHERE " + PARTITIONS + " AND type = 'install' "
    "AND received_at >= fromUnixTimestamp64Milli({since:Int64})) AS e "
    "ON e.event_id = c.conversion_id"
)  # fmt: skip
WRITTEN_QUERY = (
    "SELECT kafka_partition, max(kafka_offset) FROM attribution_credits WHERE " + PARTITIONS
    + " GROUP BY kafka_partition"
)  # fmt: skip
FLAGGED_QUERY = (
    "SELECT touch_key, max(toUnixTimestamp64Milli(conversion_ts)) FROM attribution_credits "
    "WHERE has(fraud_flags, 'click_flooding') "
    "AND conversion_ts >= fromUnixTimestamp64Milli({since:Int64}) GROUP BY touch_key"
)


def flood_rules(settings: AttributorSettings) -> FloodRules | None:
    """The attributor's flooding rules from its settings (None: detection off)."""
    if not settings.flood_detection:
        return None
    return FloodRules(
        FloodThresholds(
            max_clicks_per_install=settings.flood_max_clicks_per_install,
            max_share_ctit_over_24h=settings.flood_max_share_ctit_over_24h,
            max_ctit_flatness=settings.flood_max_ctit_flatness,
            min_installs=settings.flood_min_installs,
            min_clicks=settings.flood_min_clicks,
        ),
        window_hours=settings.flood_window_hours,
    )


class _InstallCredits(NamedTuple):
    """The credit rows of a batch's installs that name a touch of ours, column by column."""

    credit: NDArray[np.intp]  # row in the credits
    row: NDArray[np.intp]  # row of the install in the decoded batch
    key: NDArray[np.intp]  # index into `keys`
    keys: list[Key]  # the distinct (advertiser, credited partner), in order of appearance


class FloodStage:
    def __init__(
        self,
        rules: FloodRules | None,
        models: Sequence[Model],
        retention_ms: int,
        metrics: AttributorMetrics | None = None,
    ) -> None:
        """`rules` None: no partner is judged; credits already flagged in the store still are
        (a recorded flag is never paid). `metrics` counts the credit rows flagged
        (`partnerstream_attributor_flagged_credits_total{reason}`)."""
        self.rules = rules
        self.flagged_credits = None if metrics is None else metrics.flagged_credits
        if self.flagged_credits is not None:
            self.flagged_credits.labels(reason=CLICK_FLOODING)  # exported from 0 on
        self.ledger = FloodLedger(rules) if rules is not None else None
        self.count_model = Model.LAST_TOUCH if Model.LAST_TOUCH in models else models[0]
        self.retention_ms = retention_ms
        self.flooding_partners: set[Key] = set()  # judged flooding at their last install
        self._flagged: dict[int, int] = {}  # touch key -> conversion ts (ms) that flagged it
        self._sorted: NDArray[np.int64] = np.zeros(0, np.int64)
        # (topic, partition) -> highest source offset with credits in the store when the
        # partitions were assigned: installs up to it were judged before (see `observe`)
        self._judged: dict[tuple[str, int], int] = {}

    # -- what is flagged -------------------------------------------------------------------
    def remember(self, touch_key: int, ts_ms: int) -> None:
        """A touch whose credit is flagged (judged here, or read back from the store)."""
        if touch_key == NONE_ID:
            return
        if touch_key not in self._flagged:
            self._sorted = np.zeros(0, np.int64)  # sorted again on the next look-up
        self._flagged[touch_key] = max(ts_ms, self._flagged.get(touch_key, ts_ms))

    def flagged(self, touch_keys: NDArray[np.int64]) -> NDArray[np.bool_]:
        if not self._flagged:
            return np.zeros(touch_keys.shape[0], np.bool_)
        if self._sorted.shape[0] != len(self._flagged):
            self._sorted = np.sort(np.fromiter(self._flagged, np.int64, len(self._flagged)))
        return np.isin(touch_keys, self._sorted)

    def payable(self, credits: Credits) -> Credits:
        """The credits as the contract rules should see them: flagged rows without partner."""
        mask = self.flagged(credits.touch_id)
        if not bool(mask.any()):
            return credits
        return replace(credits, partner_id=np.where(mask, np.int64(NONE_ID), credits.partner_id))

    def with_flags(self, cols: Columns) -> Columns:
        """attribution_credits rows with `fraud_flags` set on flagged rows (the column is left
        to its default when no row is flagged). Call it once per set of rows to write: the
        flagged credit rows (reversal rows aside) are counted in the metric."""
        touch_keys = cols.get("touch_key", ())
        if not self._flagged or not touch_keys:
            return cols
        mask = self.flagged(np.asarray(touch_keys, np.int64)).tolist()
        if not any(mask):
            return cols
        if self.flagged_credits is not None:
            counted = np.asarray(mask, np.bool_)
            reversal = cols.get("is_reversal")
            if reversal is not None and len(reversal) == counted.shape[0]:
                counted &= ~np.asarray(reversal, np.bool_)
            self.flagged_credits.labels(reason=CLICK_FLOODING).inc(int(counted.sum()))
        return {**cols, "fraud_flags": [[CLICK_FLOODING] if m else [] for m in mask]}

    # -- one batch -------------------------------------------------------------------------
    def observe(self, decoded: DecodedBatch, credits: Credits, names: Mapping[int, str]) -> None:
        """Judge the batch's credited installs against the counts before the batch (flagging
        the touches of flooding partners), then count the batch's clicks and installs."""
        if self.ledger is None:
            return
        credited = self._install_credits(decoded, credits, names)
        verdicts = np.zeros(len(credited.keys), np.bool_)
        for i, key in enumerate(credited.keys):
            verdicts[i] = self.ledger.flooding(key)
            self._log_change(key, bool(verdicts[i]))
        flagged = verdicts[credited.key] & ~self._judged_before(decoded, credited.row)
        touches = credits.touch_id[credited.credit[flagged]].tolist()
        for touch, ts in zip(touches, decoded.ts_ms[credited.row[flagged]].tolist(), strict=True):
            self.remember(touch, ts)
        self._count_clicks(decoded)
        counted = self._last_touches(credited, credits)
        rows = credited.row[counted]
        ctit = decoded.arrays["ctit_seconds"].take(pa.array(rows, pa.int64())).to_pylist()
        self.ledger.add_installs(
            [credited.keys[k] for k in credited.key[counted].tolist()],
            decoded.received_ms[rows].tolist(),
            ctit,
        )
        kept = np.concatenate(
            [np.asarray(r, np.intp) for r in (decoded.touch_rows, decoded.conversion_rows,
                                              decoded.reversal_rows)]
        )  # fmt: skip
        if kept.shape[0] and self.ledger.advance(int(decoded.received_ms[kept].max())):
            self._evict()

    def _judged_before(self, decoded: DecodedBatch, rows: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Rows replayed after a crash between the credits insert and the events insert: their
        credits, flagged or not, are stored (the flags were read back by `rebuild`). They are
        counted again (their event row was not) but not judged again: the counts now may say
        otherwise, and the stored verdict stands."""
        done = np.zeros(rows.shape[0], np.bool_)
        if not self._judged or not rows.shape[0]:
            return done
        index = pa.array(rows, pa.int64())
        topics, parts, offsets = (
            decoded.arrays[name].take(index).to_pylist()
            for name in ("kafka_topic", "kafka_partition", "kafka_offset")
        )
        for i, (topic, part, offset) in enumerate(zip(topics, parts, offsets, strict=True)):
            done[i] = offset <= self._judged.get((topic, part), -1)
        return done

    def _count_clicks(self, decoded: DecodedBatch) -> None:
        """The batch's non-bot clicks that name a partner, counted per (advertiser, partner)
        and hour of receive time (the ledger counts by the hour)."""
        assert self.ledger is not None
        touches = np.asarray(decoded.touch_rows, np.intp)
        partner = decoded.hashed("partner_id")
        is_click = (decoded.codes[touches] == TOUCH_CLICK) & (partner[touches] != 0)
        clicks = touches[is_click & (decoded.flags[touches] & TouchFlag.BOT == 0)]
        if not clicks.shape[0]:
            return
        hours = decoded.received_ms[clicks] // HOUR_MS
        adv = decoded.hashed("advertiser_id")[clicks]
        first, counts = _groups(adv, partner[clicks], hours)
        text = decoded.names.get
        self.ledger.add_clicks(
            [(text(a, ""), text(p, "")) for a, p in zip(adv[first].tolist(),
                                                        partner[clicks][first].tolist(),
                                                        strict=True)],
            (hours[first] * HOUR_MS).tolist(),
            counts.tolist(),
        )  # fmt: skip

    @staticmethod
    def _install_credits(
        decoded: DecodedBatch, credits: Credits, names: Mapping[int, str]
    ) -> _InstallCredits:
        """The credit rows of the batch's installs that name a touch of ours."""
        none = np.zeros(0, np.intp)
        conversions = np.asarray(decoded.conversion_rows, np.intp)
        installs = conversions[decoded.installs()[conversions]]
        if not installs.shape[0] or not len(credits):
            return _InstallCredits(none, none, none, [])
        keys = decoded.event_keys[installs]
        order = np.argsort(keys, kind="stable")
        at = np.minimum(np.searchsorted(keys[order], credits.conversion_id), keys.shape[0] - 1)
        hit = (keys[order][at] == credits.conversion_id) & (credits.touch_id != NONE_ID)
        credit = np.flatnonzero(hit)
        row = installs[order[at[credit]]]
        adv, partner = decoded.hashed("advertiser_id")[row], credits.partner_id[credit]
        first, _, key = _groups(adv, partner, inverse=True)
        by_appearance = np.argsort(first, kind="stable")
        rank = np.empty_like(by_appearance)
        rank[by_appearance] = np.arange(by_appearance.shape[0])
        text = decoded.names.get
        distinct = [
            (text(a, ""), names.get(p, str(p)))
            for a, p in zip(adv[first[by_appearance]].tolist(),
                            partner[first[by_appearance]].tolist(), strict=True)
        ]  # fmt: skip
        return _InstallCredits(credit, row, rank[key], distinct)

    def _last_touches(self, credited: _InstallCredits, credits: Credits) -> NDArray[np.intp]:
        """Per install, the index (into `credited`) of its credit of highest position under the
        counting model (the first such credit on a tie)."""
        mine = np.flatnonzero(credits.model[credited.credit] == self.count_model)
        position = credits.position[credited.credit[mine]]
        order = mine[np.lexsort((mine, -position.astype(np.int64), credited.row[mine]))]
        rows = credited.row[order]
        firsts = np.ones(order.shape[0], np.bool_)
        firsts[1:] = rows[1:] != rows[:-1]
        return order[firsts]

    def _log_change(self, key: Key, flooding: bool) -> None:
        assert self.ledger is not None
        if flooding == (key in self.flooding_partners):
            return
        if flooding:
            self.flooding_partners.add(key)
            stats = self.ledger.stats(key)
            log.warning(
                "click_flooding_detected",
                extra={
                    "advertiser_id": key[0], "partner_id": key[1], "clicks": stats.clicks,
                    "installs": stats.installs, "signals": ",".join(stats.signals),
                },
            )  # fmt: skip
        else:
            self.flooding_partners.discard(key)
            log.info(
                "click_flooding_cleared", extra={"advertiser_id": key[0], "partner_id": key[1]}
            )

    def _evict(self) -> None:
        """Forget flagged touches older than the retention (no conversion credits them now)."""
        assert self.ledger is not None
        oldest = self.ledger.newest_hour * HOUR_MS - self.retention_ms
        stale = [k for k, ts in self._flagged.items() if ts < oldest]
        for key in stale:
            del self._flagged[key]
        if stale:
            self._sorted = np.zeros(0, np.int64)

    # -- after an assignment ---------------------------------------------------------------
    def rebuild(self, sink: Sink, topic: str, partitions: Collection[int], now_ms: int) -> None:
        """The ledger for `partitions` and the flagged touches, from the store."""
        self._flagged, self._sorted, self.flooding_partners = {}, np.zeros(0, np.int64), set()
        self._judged = {}
        for touch, ts in sink.query_rows(FLAGGED_QUERY, {"since": now_ms - self.retention_ms}):
            self.remember(int(touch), int(ts))
        if self.rules is None:
            return
        self.ledger = ledger = FloodLedger(self.rules)
        parts = {"topic": topic, "parts": sorted(partitions)}
        if not parts["parts"]:
            return
        self._judged = {(topic, int(p)): int(o) for p, o in sink.query_rows(WRITTEN_QUERY, parts)}
        ((count, newest),) = sink.query_rows(NEWEST_QUERY, parts)
        if not int(count):
            return
        ledger.advance(int(newest))
        since = ledger.since_ms()
        clicks = sink.query_rows(CLICKS_QUERY, {**parts, "since": since})
        ledger.add_clicks(
            [(str(a), str(p)) for a, p, _, _ in clicks],
            [int(hour) * HOUR_MS for _, _, hour, _ in clicks],
            [int(n) for *_, n in clicks],
        )
        installs = sink.query_rows(
            INSTALLS_QUERY,
            {**parts, "since": since, "oldest": since - self.retention_ms,
             "model": MODEL_NAMES[int(self.count_model)]},
        )  # fmt: skip
        ledger.add_installs(
            [(str(a), str(p)) for a, p, _, _ in installs],
            [int(ms) for _, _, ms, _ in installs],
            [None if c is None else float(c) for *_, c in installs],
        )
        self.flooding_partners = {k for k in ledger.partners() if ledger.flooding(k)}


@overload
def _groups(*columns: NDArray[np.int64]) -> tuple[NDArray[np.intp], NDArray[np.intp]]: ...


@overload
def _groups(
    *columns: NDArray[np.int64], inverse: bool
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]: ...


def _groups(*columns: NDArray[np.int64], inverse: bool = False) -> Any:
    """Rows grouped by equal values in every column: (first row of each group, rows per
    group) and, with `inverse`, each row's group. Groups are in sorted order of the keys."""
    order = np.lexsort(columns[::-1])
    same = np.ones(order.shape[0], np.bool_)  # as the row before, in every column
    for column in columns:
        ordered = column[order]
        same[1:] &= ordered[1:] == ordered[:-1]
    starts = ~same
    starts[:1] = True
    bounds = np.flatnonzero(starts)
    counts = np.diff(np.append(bounds, order.shape[0]))
    if not inverse:
        return order[bounds], counts
    group = np.empty(order.shape[0], np.intp)
    group[order] = np.cumsum(starts) - 1
    return order[bounds], counts, group

"""The attributor: consume events, credit conversions with the engine, write ClickHouse,
then commit offsets (never before the write succeeded).

One loop: `getmany` -> `process` (decode, drop already-seen ids, engine, reversals) ->
`write` with retries and backoff while the store is down (nothing committed meanwhile) ->
`commit`. On every partition assignment the journey state is rebuilt from the `events`
table for the assigned partitions, so any instance gives the same credits.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from attribution.columns import Conversions, Credits, Model, concat_rows
from attribution.contracts import ContractBook
from attribution.engine import EngineConfig, concat_credits
from attribution.ids import hash_id
from attribution.reversals import FULL_REVERSAL
from attribution.state import JourneyState
from services.attributor.decode import (
    DecodedBatch,
    conversions_of,
    decode_records,
    touch_names,
    touches_of,
)
from services.attributor.flooding import FloodStage
from services.attributor.gc_pacing import BatchGc
from services.attributor.installs import (
    INSTALL_CREDITS_QUERY,
    InstallCredit,
    Orphan,
    counts_as_apple_install,
    inherit,
    sole_credits,
)
from services.attributor.metrics import AttributorMetrics, observe_many
from services.attributor.payouts import PayoutStage, PostInstall
from services.attributor.reversals import (
    CREDIT_QUERY,
    ReversalRequest,
    StoredCredit,
    apply_reversals,
    stored_credit,
)
from services.attributor.rows import (
    MODEL_NAMES,
    ROLE_NAMES,
    Columns,
    ConversionInfo,
    concat_columns,
    conversion_info_list,
    conversion_infos,
    conversions_of_infos,
    credit_columns,
    dead_letter_columns,
    dead_letters_of,
    event_columns,
    filter_columns,
    rejected_columns,
)
from services.attributor.seen import SeenEvents
from services.attributor.sink import Sink, dedup_token, offset_ranges, rows_above
from services.bus.errors import BusError
from services.bus.protocols import EventConsumer, EventProducer
from services.bus.records import Record, TopicPartition
from services.clock import Clock
from services.errors import ConfigError, StoreUnavailable
from tracker.postbacks.flooding import FloodRules

log = logging.getLogger("partnerstream.attributor")
HOUR_MS = 3_600_000
EVICT_EVERY_MS = 10 * 60_000  # of event time: how often old ids leave the seen-index
ORPHAN_CHECK_SECONDS = 5.0  # how often pending post-install events look for their install
CREDITED_QUERY = (
    "SELECT DISTINCT conversion_id FROM attribution_credits "
    "WHERE conversion_id IN {ids:Array(String)}"
)


@dataclass(frozen=True, slots=True)
class AttributorConfig:
    events_topic: str = "events.v1"
    dlq_topic: str = "events.dlq.v1"
    batch_max_records: int = 50_000
    batch_max_ms: int = 250
    models: tuple[Model, ...] = (Model.LAST_TOUCH,)
    engine: EngineConfig = field(default_factory=EngineConfig)
    lateness_ms: int = HOUR_MS  # conversions may arrive this late relative to the newest event
    retry_max_seconds: float = 30.0
    rebuild_chunk: int = 50_000
    chaos_exit_after_write: float = 0.0  # tests only: crash between write and commit
    flooding: FloodRules | None = None  # click-flooding detection (flooding.py); None: off

    @property
    def retention_ms(self) -> int:
        return self.engine.windows.longest_ms + self.engine.post_install_ms + self.lateness_ms


@dataclass(slots=True)
class PendingWrite:
    table: str
    columns: Columns
    token: str


class Attributor:
    def __init__(
        self,
        consumer: EventConsumer,
        sink: Sink,
        clock: Clock,
        config: AttributorConfig | None = None,
        *,
        metrics: AttributorMetrics | None = None,
        partner_types: Mapping[str, str] | None = None,
        contracts: ContractBook | None = None,
        dlq_producer: EventProducer | None = None,
    ) -> None:
        """`dlq_producer` (started by its owner) also publishes the records the attributor
        refuses to the DLQ topic, for whoever watches it; they are stored either way."""
        self.consumer = consumer
        self.dlq_producer = dlq_producer
        self.sink = sink
        self.clock = clock
        self.config = config or AttributorConfig()
        self.metrics = metrics or AttributorMetrics()
        self.partner_types: dict[str, str] = dict(partner_types or {})
        self.partner_names: dict[int, str] = {}
        self.campaign_names: dict[int, str] = {}
        self._evicted_at_ms = 0
        self.flooding = FloodStage(
            self.config.flooding, self.config.models, self.config.retention_ms, self.metrics
        )
        self.payout_stage = (
            PayoutStage(contracts, self.partner_types, self.partner_names)
            if contracts is not None and contracts.versions
            else None
        )
        if self.payout_stage is not None:
            missing = self.payout_stage.models_needed() - set(self.config.models)
            if missing:
                raise ConfigError(
                    "contracts split payouts by models the attributor does not compute: "
                    + ", ".join(sorted(m.name.lower() for m in missing))
                    + " (add them to PARTNERSTREAM_MODELS)"
                )
        self.state = JourneyState(self.config.engine, self.config.models)
        self.seen = SeenEvents()
        self.marks: dict[str, dict[tuple[str, int], int]] = {}
        self.pending_reversals: list[ReversalRequest] = []
        self.pending_orphans: dict[int, tuple[Orphan, ConversionInfo]] = {}
        self._next_orphan_check = 0.0
        self._late_revenue: dict[int, int] = {}
        self._stop = asyncio.Event()
        # Rebalance callbacks may run while a batch is between its write and its commit
        # (aiokafka runs them from its coordinator task): they wait for the batch to finish.
        self._batch_lock = asyncio.Lock()
        consumer.on_assigned(self._on_assigned)
        consumer.on_revoked(self._on_revoked)

    # -- lifecycle -------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish its batch, commit and return (SIGTERM)."""
        self._stop.set()

    async def run(self) -> None:
        await self.consumer.start()
        pacing = BatchGc()  # garbage collection between batches, not during (gc_pacing.py)
        pacing.start()
        try:
            while not self._stop.is_set():
                with pacing.batch():
                    batch = await self._next_batch()
                    if batch:
                        await self.process(batch)
        finally:
            await self.consumer.stop()

    async def _next_batch(self) -> dict[TopicPartition, list[Record]]:
        """Records until `batch_max_records`, or `batch_max_ms` after the first one arrived:
        under load a batch fills up, so the fixed cost of a batch (engine call, four
        inserts, a commit) is shared by many events; when idle, latency stays bounded."""
        limit, linger_s = self.config.batch_max_records, self.config.batch_max_ms / 1000
        batch = await self.consumer.getmany(limit, self.config.batch_max_ms)
        count = sum(len(records) for records in batch.values())
        deadline = time.monotonic() + linger_s
        while batch and count < limit and not self._stop.is_set():
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            more = await self.consumer.getmany(limit - count, left_ms)
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
        return batch

    async def _on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        async with self._batch_lock:
            await asyncio.to_thread(self.rebuild, partitions)

    async def _on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        # Let the batch in flight finish its writes and commit before the hand-over; the
        # state of the partitions kept is rebuilt on the assignment that follows.
        async with self._batch_lock:
            return None

    # -- state ---------------------------------------------------------------------------
    def rebuild(self, partitions: frozenset[TopicPartition]) -> None:
        """Journey state, seen ids and high-water marks for `partitions`, from the store."""
        started = time.perf_counter()
        self.state = JourneyState(self.config.engine, self.config.models)
        self.seen = SeenEvents()
        self.pending_reversals = []
        self.pending_orphans = {}
        self.marks = {}
        by_topic: dict[str, list[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        for topic, parts in by_topic.items():
            for table, marks in self.sink.high_water_marks(topic, sorted(parts)).items():
                for p, offset in marks.items():
                    self.marks.setdefault(table, {})[(topic, p)] = offset
        events_parts = by_topic.get(self.config.events_topic, [])
        if events_parts:
            since = self.clock.now_ms() - self.config.retention_ms
            records = self.sink.read_events(self.config.events_topic, sorted(events_parts), since)
            for start in range(0, len(records), self.config.rebuild_chunk):
                chunk = decode_records(records[start : start + self.config.rebuild_chunk])
                self._remember_names(chunk)
                self._index(chunk, np.arange(chunk.size, dtype=np.intp))
                self.state.append(touches_of(chunk), conversions_of(chunk), self._watermark(chunk))
                self.pending_reversals.extend(self._reversal_requests(chunk, chunk.reversal_rows))
                self._collect_orphans(chunk)
            self._match_pending_from_store()
            self._drop_credited_orphans()
        if self.payout_stage is not None:
            self.payout_stage.rebuild(self.sink)
        self.flooding.rebuild(
            self.sink, self.config.events_topic, events_parts, self.clock.now_ms()
        )
        self.metrics.rebuilds.inc()
        self.metrics.retained_touches.set(self.state.retained_touches)
        log.info(
            "state_rebuilt",
            extra={
                "partitions": len(partitions),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )

    def _collect_orphans(self, chunk: DecodedBatch) -> None:
        """Post-install events of a replayed chunk: candidates for `pending_orphans`."""
        cols = chunk.events
        infos = self._conversion_infos(chunk)
        for r in chunk.post_install_rows():
            key = cols["event_key"][r]
            orphan = Orphan(key, cols["install_id"][r], cols["ts_ms"][r], cols["revenue"][r])
            self.pending_orphans[key] = (orphan, infos[key])

    def _drop_credited_orphans(self) -> None:
        """Keep pending only the post-install events that have no credit stored yet."""
        if not self.pending_orphans:
            return
        ids = sorted({info.conversion_id for _, info in self.pending_orphans.values()})
        rows = self.sink.query_rows(CREDITED_QUERY, {"ids": ids})
        credited = {hash_id(str(r[0])) for r in rows}
        for key in credited:
            self.pending_orphans.pop(key, None)

    def _stored_install_credits(self, install_ids: set[str]) -> dict[str, list[InstallCredit]]:
        """The stored credits of these installs, by install id."""
        installs: dict[str, list[InstallCredit]] = {}
        if not install_ids:
            return installs
        rows = self.sink.query_rows(INSTALL_CREDITS_QUERY, {"ids": sorted(install_ids)})
        for conv, ts, touch, partner, model, flooded in rows:
            if flooded:
                self.flooding.remember(int(touch), int(ts))
            installs.setdefault(str(conv), []).append(
                InstallCredit(
                    str(conv), int(ts), int(touch), str(partner), Model[str(model).upper()]
                )
            )
            self.partner_names.setdefault(hash_id(str(partner)), str(partner))
        return installs

    def _late_orphan_writes(self, now_ms: int) -> list[PendingWrite]:
        """Pending post-install events whose install was credited by another instance (or
        before a restart): credit them from the stored install credits. Their rows keep the
        event's own source offsets and skip the high-water marks (the event was processed
        long ago); a restart recomputes the pending set from the store, so none is credited
        twice, and the token makes an exact retry harmless."""
        if not self.pending_orphans or time.monotonic() < self._next_orphan_check:
            return []
        self._next_orphan_check = time.monotonic() + ORPHAN_CHECK_SECONDS
        installs = self._stored_install_credits(
            {o.install_id for o, _ in self.pending_orphans.values()}
        )
        ready = [o for o, _ in self.pending_orphans.values() if o.install_id in installs]
        if not ready:
            return []
        credits = inherit(ready, installs, self.config.models, self.config.engine.post_install_ms)
        infos = {o.conversion_key: self.pending_orphans.pop(o.conversion_key)[1] for o in ready}
        if not len(credits):
            return []
        cols = self.flooding.with_flags(credit_columns(
            credits, infos, self.partner_names, self.partner_types, now_ms, is_reversal=False,
            campaigns=self._campaigns(credits),
        ))  # fmt: skip
        return [
            PendingWrite(
                "attribution_credits",
                cols,
                "late:" + _token_of_columns("attribution_credits", cols),
            )
        ]

    def _remember_names(self, batch: DecodedBatch) -> None:
        for partner, partner_type, campaign in touch_names(batch):
            self.partner_names[hash_id(partner)] = partner
            if partner_type:
                self.partner_types.setdefault(partner, partner_type)
            if campaign:
                self.campaign_names[hash_id(campaign)] = campaign

    def _index(self, batch: DecodedBatch, rows: NDArray[np.intp]) -> None:
        """Remember the ids of `rows` (and their campaigns), evicting past the retention."""
        keys = batch.event_keys[rows]
        ts = batch.ts_ms[rows]
        self.seen.add(keys, ts, batch.hashed("campaign_id")[rows])
        if ts.shape[0]:
            newest = int(ts.max())
            if newest - self._evicted_at_ms > EVICT_EVERY_MS:
                self.seen.evict(newest - self.config.retention_ms)
                self._evicted_at_ms = newest

    def _watermark(self, batch: DecodedBatch) -> int | None:
        ts = batch.ts_ms
        return int(ts.max()) - self.config.lateness_ms if ts.shape[0] else None

    def _mark(self, table: str, source: Record | TopicPartition) -> int:
        """The highest offset of `source`'s partition written to `table` (-1: none)."""
        return self.marks.get(table, {}).get((source.topic, source.partition), -1)

    # -- one batch ---------------------------------------------------------------------------
    async def process(self, batch: Mapping[TopicPartition, list[Record]]) -> None:
        async with self._batch_lock:
            await self._process(batch)

    async def _process(self, batch: Mapping[TopicPartition, list[Record]]) -> None:
        started = time.perf_counter()
        assigned = self.consumer.assignment()
        batch = {tp: recs for tp, recs in batch.items() if tp in assigned}  # revoked meanwhile
        events: list[Record] = []
        letters: list[Record] = []
        for tp in sorted(batch):  # partition by partition: no Python work per record here
            if tp.topic == self.config.events_topic:
                events += _above(batch[tp], self._mark("events", tp))
            elif tp.topic == self.config.dlq_topic:
                letters += batch[tp]
        writes = self._dead_letter_writes(letters)
        decoded = decode_records(events)
        self._remember_names(decoded)
        writes += self._attribute(decoded)
        writes += self._late_orphan_writes(self.clock.now_ms())
        await self._write_all(writes)
        await self._publish_refused(decoded)
        if (
            self.config.chaos_exit_after_write
            and random.random() < self.config.chaos_exit_after_write
        ):
            os._exit(137)  # the crash-safety suite: written, not committed
        offsets = {tp: recs[-1].offset + 1 for tp, recs in batch.items() if recs}
        await self._commit(offsets)
        for topic, behind in self.consumer.lag().items():
            self.metrics.lag.labels(topic).set(behind)
        self.metrics.batches.inc()
        self.metrics.batch_records.observe(sum(len(recs) for recs in batch.values()))
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.retained_touches.set(self.state.retained_touches)

    async def _publish_refused(self, decoded: DecodedBatch) -> None:
        if self.dlq_producer is None or not decoded.rejected:
            return
        try:
            await self.dlq_producer.send_batch(
                self.config.dlq_topic, dead_letters_of(decoded.rejected)
            )
        except BusError as exc:  # stored in rejected_events already: the topic copy is a courtesy
            log.warning("dlq_publish_failed", extra={"error": str(exc)[:200]})

    def _dead_letter_writes(self, letters: Sequence[Record]) -> list[PendingWrite]:
        fresh = [r for r in letters if r.offset > self._mark("rejected_events", r)]
        if not fresh:
            return []
        columns, bad = dead_letter_columns(fresh)
        writes = [PendingWrite("rejected_events", columns, _token("rejected_events", fresh))]
        if bad:
            writes.append(
                PendingWrite(
                    "rejected_events",
                    rejected_columns(bad),
                    _token("rejected_events:bad", [b.record for b in bad]),
                )
            )
        return writes

    def _attribute(self, decoded: DecodedBatch) -> list[PendingWrite]:
        writes: list[PendingWrite] = []
        if decoded.rejected:
            self.metrics.dead_letters.inc(len(decoded.rejected))
            rejected = [
                r
                for r in decoded.rejected
                if r.record.offset > self._mark("rejected_events", r.record)
            ]
            if rejected:
                writes.append(
                    PendingWrite(
                        "rejected_events",
                        rejected_columns(rejected),
                        _token("rejected_events", [r.record for r in rejected]),
                    )
                )
        if decoded.size == 0:
            return writes
        first = self.seen.first_seen(decoded.event_keys)
        self.metrics.duplicates.inc(int((~first).sum()))
        keep = np.flatnonzero(first)
        if keep.shape[0] < decoded.size:
            kept = set(keep.tolist())
            decoded.touch_rows = [r for r in decoded.touch_rows if r in kept]
            decoded.conversion_rows = [r for r in decoded.conversion_rows if r in kept]
            decoded.reversal_rows = [r for r in decoded.reversal_rows if r in kept]
        self._index(decoded, keep)

        now_ms = self.clock.now_ms()
        conversions = conversions_of(decoded)
        result = self.state.append(touches_of(decoded), conversions, self._watermark(decoded))
        infos = self._conversion_infos(decoded)
        credits, sources, late_post_install = self._with_inherited(
            decoded, self._with_apple_installs(decoded, result.credits), infos
        )
        self.flooding.observe(decoded, credits, self.partner_names)
        credit_cols = credit_columns(
            credits,
            infos,
            self.partner_names,
            self.partner_types,
            now_ms,
            is_reversal=False,
            source=sources,
            campaigns=self._campaigns(credits),
        )
        credit_parts = [credit_cols]
        payout_parts: list[Columns] = []
        if self.payout_stage is not None and len(credits):
            payout_parts.append(self.payout_stage.payouts(
                self.flooding.payable(credits),
                _with_late(conversions, late_post_install, infos, self._late_revenue),
                infos, self._post_install(decoded) + late_post_install, self.sink, now_ms,
            ))  # fmt: skip
        reversal_cols = self._reversals(decoded, credits, infos, sources, now_ms, payout_parts)
        if reversal_cols is not None:
            credit_parts.append(reversal_cols)
        # one insert per table and batch: each insert makes a part (files, a merge later)
        fresh = concat_columns([self._fresh("attribution_credits", c) for c in credit_parts])
        fresh = self.flooding.with_flags(fresh)
        if fresh["conversion_id"]:
            token = _token_of_columns("attribution_credits", fresh)
            writes.append(PendingWrite("attribution_credits", fresh, token))
        fresh = concat_columns([self._fresh("payouts", c) for c in filter(None, payout_parts)])
        if fresh.get("conversion_id"):
            writes.append(PendingWrite("payouts", fresh, _token_of_columns("payouts", fresh)))
        events_cols = event_columns(decoded, keep)
        token = dedup_token("events", offset_ranges(decoded.arrays))
        writes.append(PendingWrite("events", events_cols, token))
        self._observe_latency(decoded, now_ms)
        return writes

    def _with_apple_installs(self, decoded: DecodedBatch, credits: Credits) -> Credits:
        """Credit SKAdNetwork / AdAttributionKit installs to the partner owning the network
        (the collector set partner_id from the registry); the engine sees no touch for them."""
        cols = decoded.events
        candidates = decoded.network_install_rows()  # few: Python looks at them one by one
        if not candidates:
            return credits
        credited = set(credits.conversion_id.tolist())
        rows = [
            r for r in candidates
            if cols["type"][r] == "install" and cols["partner_id"][r]
            and cols["event_key"][r] not in credited
            and counts_as_apple_install(cols["source"][r], cols["sub2"][r], cols["sub3"][r])
        ]  # fmt: skip
        if not rows:
            return credits
        for r in rows:
            self.partner_names[decoded.h(cols["partner_id"][r])] = cols["partner_id"][r]
            if cols["partner_type"][r]:
                self.partner_types.setdefault(cols["partner_id"][r], cols["partner_type"][r])
        extra = sole_credits(
            [cols["event_key"][r] for r in rows],
            [decoded.h(cols["partner_id"][r]) for r in rows],
            self.config.models,
        )
        return concat_credits([credits, extra])

    def _with_inherited(
        self, decoded: DecodedBatch, credits: Credits, infos: dict[int, ConversionInfo]
    ) -> tuple[Credits, dict[int, ConversionInfo], list[PostInstall]]:
        """Add credits of post-install events whose install is in another journey.

        Returns the credits and, per conversion key, where each credit row's source record
        is (for the sink's high-water marks). An event whose install is not credited yet
        (its partition may lag) waits in `pending_orphans` and is credited in the batch that
        credits its install, with that install's record as its source.
        """
        cols = decoded.events
        candidates = decoded.post_install_rows()
        if not candidates and not self.pending_orphans:  # the common case: nothing to link
            return credits, infos, []
        sources = dict(infos)
        credited = set(credits.conversion_id.tolist())
        orphans = [
            Orphan(
                cols["event_key"][r], cols["install_id"][r], cols["ts_ms"][r], cols["revenue"][r]
            )
            for r in candidates
            if cols["event_key"][r] not in credited
        ]
        installs: dict[str, list[InstallCredit]] = {}
        install_infos: dict[str, ConversionInfo] = {}
        columns = (credits.conversion_id, credits.touch_id, credits.partner_id, credits.model)
        for k, touch, partner, model in zip(*(c.tolist() for c in columns), strict=True):
            info = infos.get(k)
            if info is not None and info.event_name == "install":
                install_infos[info.conversion_id] = info
                installs.setdefault(info.conversion_id, []).append(InstallCredit(
                    info.conversion_id, info.conversion_ts_ms, touch,
                    self.partner_names.get(partner, str(partner)), Model(model)))  # fmt: skip
        late = [o for o, _ in self.pending_orphans.values() if o.install_id in install_infos]
        self._late_revenue = {o.conversion_key: o.revenue for o in late}
        for orphan in late:
            _, info = self.pending_orphans.pop(orphan.conversion_key)
            infos[orphan.conversion_key] = info
            sources[orphan.conversion_key] = install_infos[orphan.install_id]
        installs.update(
            self._stored_install_credits({o.install_id for o in orphans} - set(installs))
        )
        extra = inherit(
            orphans + late, installs, self.config.models, self.config.engine.post_install_ms
        )
        done = set(extra.conversion_id.tolist())
        for orphan in orphans:
            if orphan.conversion_key not in done and orphan.install_id not in installs:
                self.pending_orphans[orphan.conversion_key] = (orphan, infos[orphan.conversion_key])
        late_events = [
            PostInstall(o.conversion_key, infos[o.conversion_key].advertiser_id,
                        infos[o.conversion_key].event_name, o.ts_ms, o.install_id)
            for o in late
        ]  # fmt: skip
        return (concat_credits([credits, extra]) if len(extra) else credits), sources, late_events

    def _campaigns(self, credits: Credits) -> pa.Array:
        """The campaign of each credited touch (each touch and campaign looked up once: a
        touch is credited under every model)."""
        touches, at = np.unique(credits.touch_id, return_inverse=True)
        hashes, of_touch = np.unique(self.seen.values_of(touches), return_inverse=True)
        names = pa.array([self.campaign_names.get(h, "") for h in hashes.tolist()], pa.string())
        return names.take(pa.array(of_touch.reshape(-1)[at.reshape(-1)], pa.int64()))

    def _fresh(self, table: str, cols: Columns) -> Columns:
        """Rows whose source record is above the table's high-water mark (not yet written)."""
        return filter_columns(cols, rows_above(cols, self.marks.get(table, {})))

    def _post_install(self, decoded: DecodedBatch) -> list[PostInstall]:
        cols = decoded.events
        return [
            PostInstall(cols["event_key"][r], cols["advertiser_id"][r], cols["event_name"][r],
                        cols["ts_ms"][r], cols["install_id"][r])
            for r in decoded.post_install_rows()
        ]  # fmt: skip

    def _observe_latency(self, decoded: DecodedBatch, now_ms: int) -> None:
        received = decoded.received_ms[np.asarray(decoded.conversion_rows, np.intp)]
        seconds = np.maximum(0, now_ms - received) / 1000
        observe_many(self.metrics.event_to_credit_seconds, seconds)

    def _conversion_infos(self, decoded: DecodedBatch) -> dict[int, ConversionInfo]:
        return conversion_infos(decoded, decoded.conversion_rows)

    # -- reversals -----------------------------------------------------------------------
    def _reversal_requests(
        self, decoded: DecodedBatch, rows: Sequence[int]
    ) -> list[ReversalRequest]:
        amounts = decoded.revenue[np.asarray(rows, np.intp)].tolist()
        return [
            ReversalRequest(
                advertiser_id=info.advertiser_id,
                order_id=info.order_id,
                amount=amount if amount > 0 else FULL_REVERSAL,
                source=info,
            )
            for info, amount in zip(conversion_info_list(decoded, rows), amounts, strict=True)
        ]

    def _reversals(
        self,
        decoded: DecodedBatch,
        credits: Credits,
        infos: Mapping[int, ConversionInfo],
        sources: Mapping[int, ConversionInfo],
        now_ms: int,
        payout_parts: list[Columns],
    ) -> Columns | None:
        """Negative credits for the batch's reversals, and for the pending ones whose order
        the batch credits (`credits` of the batch, their conversions' `infos`, and where each
        credit row is written from: `sources`)."""
        requests = self._reversal_requests(decoded, decoded.reversal_rows)
        if not requests and not self.pending_reversals:
            return None
        credited = _credited_orders(credits, infos)
        if self.pending_reversals:
            retry: list[ReversalRequest] = []
            waiting: list[ReversalRequest] = []
            for p in self.pending_reversals:
                matched = p.order_id and (p.advertiser_id, p.order_id) in credited
                (retry if matched else waiting).append(p)
            self.pending_reversals = waiting
            requests = retry + requests
        if not requests:
            return None
        orders = {(r.advertiser_id, r.order_id) for r in requests}
        keys = [k for order in orders for k in credited.get(order, ())]
        stored = self._stored_credits(requests)
        stored += self._batch_credits(credits, infos, sources, keys)
        outcome = apply_reversals(requests, stored)
        self.pending_reversals.extend(outcome.unmatched)
        if not len(outcome.credits):
            return None
        if self.payout_stage is not None:
            payout_parts.append(self.payout_stage.reversal_payouts(
                outcome.credits, outcome.conversions, outcome.sources, self.sink, now_ms
            ))  # fmt: skip
        return credit_columns(
            outcome.credits,
            outcome.conversions,
            self.partner_names_for(stored),
            self.partner_types,
            now_ms,
            is_reversal=True,
            source=outcome.sources,
            campaigns=self._campaigns(outcome.credits),
        )

    def _batch_credits(
        self,
        credits: Credits,
        infos: Mapping[int, ConversionInfo],
        sources: Mapping[int, ConversionInfo],
        keys: Sequence[int],
    ) -> list[StoredCredit]:
        """The credit rows of this batch (not stored yet) of these conversions, as the store
        would return them."""
        if not keys:
            return []
        out = []
        for i in np.flatnonzero(np.isin(credits.conversion_id, keys)).tolist():
            key = int(credits.conversion_id[i])
            info, origin = infos[key], sources.get(key, infos[key])
            if origin is not info:  # the row is written with its source record's offsets
                info = info._replace(
                    kafka_topic=origin.kafka_topic,
                    kafka_partition=origin.kafka_partition,
                    kafka_offset=origin.kafka_offset,
                )
            partner = int(credits.partner_id[i])
            out.append(StoredCredit(
                info, int(credits.touch_id[i]), self.partner_names.get(partner, str(partner)),
                MODEL_NAMES[int(credits.model[i])], ROLE_NAMES[int(credits.role[i])],
                int(credits.position[i]), int(credits.path_length[i]), float(credits.weight[i]),
                int(credits.credited_revenue[i]), False, key, partner,
            ))  # fmt: skip
        return out

    def partner_names_for(self, stored: Sequence[StoredCredit]) -> dict[int, str]:
        names = dict(self.partner_names)
        for partner in {row.partner_id for row in stored}:
            names[hash_id(partner)] = partner
        return names

    def _stored_credits(self, requests: Sequence[ReversalRequest]) -> list[StoredCredit]:
        rows = self.sink.query_rows(
            CREDIT_QUERY,
            {
                "orders": sorted({r.order_id for r in requests}),
                "advertisers": sorted({r.advertiser_id for r in requests}),
            },
        )
        return [stored_credit(row) for row in rows]

    def _match_pending_from_store(self) -> None:
        if not self.pending_reversals:
            return
        stored = self._stored_credits(self.pending_reversals)
        done = {(s.info.advertiser_id, s.info.order_id) for s in stored if s.is_reversal}
        self.pending_reversals = [
            p for p in self.pending_reversals if (p.advertiser_id, p.order_id) not in done
        ]

    # -- IO with retries -------------------------------------------------------------------
    async def _write_all(self, writes: Sequence[PendingWrite]) -> None:
        for write in writes:
            await self._write(write)

    async def _write(self, write: PendingWrite) -> None:
        delay = 0.05
        while True:
            try:
                await asyncio.to_thread(self.sink.write, write.table, write.columns, write.token)
                self.metrics.rows_written.labels(write.table).inc(
                    len(next(iter(write.columns.values()), []))
                )
                self._advance_marks(write)
                return
            except StoreUnavailable as exc:
                if self._stop.is_set():
                    raise
                self.metrics.retries.inc()
                log.warning(
                    "sink_retry",
                    extra={"table": write.table, "error": str(exc)[:200], "delay_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.retry_max_seconds)

    def _advance_marks(self, write: PendingWrite) -> None:
        marks = self.marks.setdefault(write.table, {})
        for source, (_, highest) in offset_ranges(write.columns).items():
            if highest > marks.get(source, -1):
                marks[source] = highest

    async def _commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except BusError as exc:
            # e.g. revoked meanwhile: the new owner replays from the last commit, and the
            # high-water marks keep that replay from writing anything twice.
            log.warning("commit_failed", extra={"error": str(exc)[:200]})


def _credited_orders(
    credits: Credits, infos: Mapping[int, ConversionInfo]
) -> dict[tuple[str, str], list[int]]:
    """The conversions these credits credit, by (advertiser, order)."""
    out: dict[tuple[str, str], list[int]] = {}
    for key in np.unique(credits.conversion_id).tolist():
        info = infos[key]
        out.setdefault((info.advertiser_id, info.order_id), []).append(key)
    return out


def _above(records: list[Record], mark: int) -> list[Record]:
    """The records (of one partition, in offset order) above the high-water mark `mark`."""
    if not records or records[0].offset > mark:
        return records  # the usual case: nothing of this partition written yet
    return records[bisect.bisect_right(records, mark, key=attrgetter("offset")) :]


def _token(table: str, records: Sequence[Record] | Sequence[tuple[str, int, int]]) -> str:
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for item in records:
        t, p, o = (item.topic, item.partition, item.offset) if isinstance(item, Record) else item
        lo, hi = ranges.get((t, p), (o, o))
        ranges[(t, p)] = (min(lo, o), max(hi, o))
    return dedup_token(table, ranges)


def _token_of_columns(table: str, cols: Columns) -> str:
    return dedup_token(table, offset_ranges(cols))


def _with_late(
    conversions: Conversions,
    late: Sequence[PostInstall],
    infos: Mapping[int, ConversionInfo],
    revenue: Mapping[int, int],
) -> Conversions:
    """The batch's conversions plus the earlier post-install events credited late in it."""
    if not late:
        return conversions
    keys = [p.conversion_key for p in late]
    return concat_rows(conversions, conversions_of_infos(keys, infos, revenue))

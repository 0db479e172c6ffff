"""kill -9 the attributor again and again while it consumes a real Kafka stream; afterwards
every event is stored once, no credit row is duplicated, and the credits equal those of one
attributor that never crashed (the engine run over the whole stream in one go)."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from attribution.columns import Model
from attribution.engine import EngineConfig, attribute
from services.attributor.decode import conversions_of, decode_records, touches_of
from services.attributor.rows import MODEL_NAMES
from services.bus.records import Record
from services.collector.publisher import encode_event
from services.simulation.journeys import Mix, canonical_events, plan_journeys
from tests.services.attributor.chaos import (
    attributor_env,
    produce,
    sql,
    start_attributor,
    wait_until_consumed,
    wait_until_healthy,
)

pytestmark = pytest.mark.kafka
MODELS = (Model.LAST_TOUCH, Model.LINEAR)
START_MS = 1_795_300_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def expected_totals(events: list) -> dict[tuple[str, str], int]:  # type: ignore[type-arg]
    records = [Record("t", 0, i, k, v, 0) for i, (k, v) in enumerate(map(encode_event, events))]
    batch = decode_records(records)
    credits = attribute(touches_of(batch), conversions_of(batch), EngineConfig(), MODELS)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for model, partner, amount in zip(
        credits.model.tolist(),
        credits.partner_id.tolist(),
        credits.credited_revenue.tolist(),
        strict=True,
    ):
        totals[(MODEL_NAMES[model], batch.names[partner])] += amount
    return dict(totals)


async def run_crash_suite(kafka_bootstrap: str, tmp_path: Path, journeys: int, kills: int) -> None:
    plans = plan_journeys(journeys, seed=7, span_s=86_400, mix=Mix(reverse=0.0))
    events = sorted(canonical_events(plans, START_MS, seed=7), key=lambda e: e.ts)
    topic, group = f"chaos-{uuid.uuid4().hex[:8]}", f"attr-{uuid.uuid4().hex[:8]}"
    await produce(kafka_bootstrap, topic, events, partitions=4)
    base = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CLICKHOUSE_URL": f"chdb://{tmp_path / 'ch'}",
        "PARTNERSTREAM_DATA_DIR": str(tmp_path),
        "PARTNERSTREAM_EVENTS_TOPIC": topic,
        "PARTNERSTREAM_DLQ_TOPIC": f"{topic}.dlq",
        "PARTNERSTREAM_CONSUMER_GROUP": group,
        "PARTNERSTREAM_BATCH_MAX_RECORDS": "400",
        "PARTNERSTREAM_MODELS": '["last_touch", "linear"]',
    }
    log = tmp_path / "attributor.log"
    rng = random.Random(11)
    for _ in range(kills):  # crash at random points, half of them between write and commit
        chaos = {"PARTNERSTREAM_CHAOS_EXIT_AFTER_WRITE": "0.2"} if rng.random() < 0.5 else {}
        proc = start_attributor(attributor_env(base, **chaos), free_port(), log)
        await asyncio.sleep(rng.uniform(4.0, 9.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    port = free_port()
    proc = start_attributor(attributor_env(base), port, log)
    try:
        await wait_until_healthy(port, within_s=60)
        await wait_until_consumed(kafka_bootstrap, topic, group, within_s=240)
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after a clean shutdown: -SIGTERM is a clean exit
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()[-3000:]

    env = attributor_env(base)
    [counts] = sql(env, "SELECT count() AS n, uniqExact(event_id) AS u FROM events")
    assert counts == {"n": len(events), "u": len(events)}
    [dups] = sql(
        env,
        "SELECT count() AS n, uniqExact(conversion_id, model, touch_key) AS u "
        "FROM attribution_credits",
    )
    assert dups["n"] == dups["u"], "a credit row was written twice"
    stored = sql(
        env,
        "SELECT model, partner_id, sum(credited_revenue) AS total FROM attribution_credits "
        "WHERE model IN ('last_touch', 'linear') GROUP BY model, partner_id",
    )
    got = {(r["model"], r["partner_id"]): int(r["total"]) for r in stored}
    assert got == expected_totals(events)
    per_conversion = sql(
        env,
        """
        SELECT count() AS bad FROM (
          SELECT c.conversion_id, c.model, sum(c.credited_revenue) AS credited,
                 any(e.revenue) AS revenue
          FROM attribution_credits AS c INNER JOIN events AS e ON e.event_id = c.conversion_id
          GROUP BY c.conversion_id, c.model HAVING credited != revenue)""",
    )
    assert per_conversion == [{"bad": 0}]
    # the example registry's contracts pay for these conversions: no payout row twice either
    [paid] = sql(env, "SELECT count() AS n FROM payouts")
    assert paid["n"] > 0
    # a partner with several touches may get several rows of one key, from ONE batch (one
    # created_at); a replayed batch would add rows with another created_at
    [twice] = sql(
        env,
        "SELECT count() AS groups FROM (SELECT conversion_id, partner_id, contract_id, "
        "payout_type, role, model FROM payouts GROUP BY ALL HAVING uniqExact(created_at) > 1)",
    )
    assert twice == {"groups": 0}, "a payout row was written twice"
    assert "state_rebuilt" in log.read_text()


@pytest.mark.timeout(600)
async def test_kill_minus_nine_short(kafka_bootstrap: str, tmp_path: Path) -> None:
    await run_crash_suite(kafka_bootstrap, tmp_path, journeys=2_000, kills=4)


@pytest.mark.slow
@pytest.mark.timeout(3600)
async def test_kill_minus_nine_long(kafka_bootstrap: str, tmp_path: Path) -> None:
    await run_crash_suite(kafka_bootstrap, tmp_path, journeys=12_000, kills=25)

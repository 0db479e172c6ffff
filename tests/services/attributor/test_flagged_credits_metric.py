"""`partnerstream_attributor_flagged_credits_total{reason}`: credit rows written with a fraud
flag, counted where the flags are set (`FloodStage.with_flags`), reversal rows aside."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from prometheus_client import generate_latest

from attribution.columns import Model
from attribution.ids import hash_id
from services.attributor.flooding import FloodStage
from services.attributor.metrics import AttributorMetrics
from services.attributor.service import Attributor, AttributorConfig
from services.attributor.sink import ClickHouseSink
from services.bus.local_bus import LocalBus
from services.bus.local_log import LocalLog
from services.clock import FixedClock
from services.collector.publisher import encode_event
from tests.services.attributor.test_end_to_end_local import wait_for
from tests.services.reports import dataset
from tracker.postbacks.fraud import CLICK_FLOODING

METRIC = "partnerstream_attributor_flagged_credits_total"
MODELS = (Model.LAST_TOUCH, Model.LINEAR)


def flagged_count(metrics: AttributorMetrics, reason: str = CLICK_FLOODING) -> float | None:
    return metrics.registry.get_sample_value(METRIC, {"reason": reason})


def test_the_counter_is_exported_from_zero_with_its_reason() -> None:
    metrics = AttributorMetrics()
    FloodStage(dataset.FLOODING, MODELS, retention_ms=86_400_000, metrics=metrics)
    assert flagged_count(metrics) == 0.0
    text = generate_latest(metrics.registry).decode()
    assert f'{METRIC}{{reason="click_flooding"}} 0.0' in text


def test_with_flags_counts_the_flagged_credit_rows_not_the_reversals() -> None:
    metrics = AttributorMetrics()
    stage = FloodStage(None, MODELS, retention_ms=86_400_000, metrics=metrics)
    flooded, clean = hash_id("click-flood"), hash_id("click-clean")
    stage.remember(flooded, 1_000)
    cols = stage.with_flags(
        {
            "touch_key": [flooded, clean, flooded, flooded],
            "model": ["last_touch", "last_touch", "linear", "linear"],
            "is_reversal": [False, False, False, True],
        }
    )
    assert cols["fraud_flags"] == [[CLICK_FLOODING], [], [CLICK_FLOODING], [CLICK_FLOODING]]
    assert flagged_count(metrics) == 2.0
    stage.with_flags({"touch_key": [clean], "is_reversal": [False]})  # nothing flagged
    stage.with_flags({"touch_key": [flooded]})  # rows without is_reversal are credits
    assert flagged_count(metrics) == 3.0
    arrow = {"touch_key": pa.array([flooded, flooded]), "is_reversal": pa.array([True, False])}
    assert stage.with_flags(arrow)["fraud_flags"] == [[CLICK_FLOODING]] * 2
    assert flagged_count(metrics) == 4.0
    assert np.array_equal(stage.flagged(np.array([flooded, clean])), [True, False])


def test_without_metrics_the_stage_flags_all_the_same() -> None:
    stage = FloodStage(None, MODELS, retention_ms=86_400_000)
    stage.remember(hash_id("t"), 1_000)
    assert stage.with_flags({"touch_key": [hash_id("t")]})["fraud_flags"] == [[CLICK_FLOODING]]


async def test_the_attributor_counts_what_it_writes_flagged(
    tmp_path: Path, ch_client: Client
) -> None:
    """floodnet's traffic of the reports' data set: the second phase's two installs and the
    purchase credited from one of them are flagged under both models (six rows)."""
    bus = LocalBus(LocalLog(tmp_path / "bus", default_partitions=4))
    await bus.start()
    metrics = AttributorMetrics()
    attributor = Attributor(
        bus.consumer(["events.v1"], "flagged-metric"),
        ClickHouseSink(ch_client),
        FixedClock(int(dataset.NOW.timestamp() * 1000)),
        AttributorConfig(models=MODELS, engine=dataset.ENGINE, batch_max_ms=20,
                         flooding=dataset.FLOODING),
        metrics=metrics,
        partner_types=dataset.PARTNER_TYPES,
    )  # fmt: skip
    task = asyncio.create_task(attributor.run())

    def stored(n: int) -> Callable[[], bool]:
        return lambda: int(ch_client.query("SELECT count() FROM events").result_rows[0][0]) == n

    try:
        sent = 0
        for phase in dataset.flood_events():
            await bus.send_batch("events.v1", [encode_event(e) for e in phase])
            sent += len(phase)
            await wait_for(stored(sent), task)
            if sent == len(phase):
                assert flagged_count(metrics) == 0.0  # judged before anything was counted
    finally:
        attributor.stop()
        await task
        await bus.stop()

    flagged = ch_client.query(
        "SELECT count() FROM attribution_credits WHERE notEmpty(fraud_flags) AND NOT is_reversal"
    ).result_rows[0][0]
    assert flagged == len(MODELS) * (len(dataset.FLAGGED_INSTALLS) + 1)
    assert flagged_count(metrics) == float(flagged)

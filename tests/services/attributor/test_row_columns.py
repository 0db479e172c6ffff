"""The Arrow columns of `attribution_credits` and `payouts` rows: each row repeats its own
conversion's (or source record's) fields, names its partner, model and role, whatever the
order and repetition of the credits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from attribution.columns import Model
from attribution.contracts import load_contracts
from attribution.engine import EngineConfig
from attribution.state import JourneyState
from services.attributor.decode import conversions_of, decode_records, touches_of
from services.attributor.payouts import PayoutStage
from services.attributor.rows import (
    MODEL_NAMES,
    ROLE_NAMES,
    ConversionInfo,
    conversion_infos,
    credit_columns,
)
from services.bus.records import Record
from services.collector.publisher import encode_event
from services.simulation.journeys import canonical_events, plan_journeys
from tests.services.collector.conftest import REPO
from tracker.registry import load_registry

START_MS = 1_795_428_000_000
MODELS = (Model.LAST_TOUCH, Model.LINEAR, Model.POSITION_BASED)


def attributed() -> tuple[Any, Any, dict[int, ConversionInfo]]:
    events = canonical_events(plan_journeys(400, 11, 86_400.0), START_MS, 11)
    records = [Record("events.v1", i % 3, i, *encode_event(e), START_MS)
               for i, e in enumerate(events)]  # fmt: skip
    batch = decode_records(records)
    credits = (
        JourneyState(EngineConfig(), MODELS)
        .append(touches_of(batch), conversions_of(batch), None)
        .credits
    )
    assert len(credits) > 100
    return batch, credits, conversion_infos(batch, batch.conversion_rows)


def rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    table = pa.table({k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in columns.items()})
    return table.to_pylist()


def test_credit_rows_repeat_their_conversion_and_name_partner_model_and_role() -> None:
    batch, credits, infos = attributed()
    order = np.random.default_rng(1).permutation(len(credits))  # any order, keys repeated
    credits = credits.take(order)
    types = {"mobidream": "mobile_network"}
    campaigns = [f"c{i % 7}" for i in range(len(credits))]
    cols = credit_columns(credits, infos, batch.names, types, START_MS + 5, is_reversal=False,
                          campaigns=campaigns)  # fmt: skip
    assert all(isinstance(v, pa.Array) and len(v) == len(credits) for v in cols.values())
    for i, row in enumerate(rows(cols)):
        info = infos[int(credits.conversion_id[i])]
        partner = batch.names[int(credits.partner_id[i])]
        assert row["conversion_id"] == info.conversion_id
        assert row["conversion_ts"].timestamp() * 1000 == info.conversion_ts_ms
        assert (row["advertiser_id"], row["identity"], row["event_name"], row["order_id"],
                row["currency"]) == (info.advertiser_id, info.identity, info.event_name,
                                     info.order_id, info.currency)  # fmt: skip
        assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == (
            info.kafka_topic, info.kafka_partition, info.kafka_offset)  # fmt: skip
        assert row["partner_id"] == partner
        assert row["partner_type"] == types.get(partner, "")
        assert row["model"] == MODEL_NAMES[int(credits.model[i])]
        assert row["role"] == ROLE_NAMES[int(credits.role[i])]
        assert row["touch_key"] == int(credits.touch_id[i])
        assert row["credited_revenue"] == int(credits.credited_revenue[i])
        assert row["weight"] == float(credits.weight[i])
        assert row["campaign_id"] == campaigns[i]
        assert row["is_reversal"] is False
        assert row["contract_id"] == ""
        assert row["attributed_at"].timestamp() * 1000 == START_MS + 5


def test_credit_rows_take_their_offsets_from_the_source_when_given() -> None:
    batch, credits, infos = attributed()
    source = {
        k: info._replace(kafka_topic="reversals", kafka_partition=9, kafka_offset=i)
        for i, (k, info) in enumerate(infos.items())
    }
    cols = credit_columns(credits, infos, batch.names, {}, 0, is_reversal=True, source=source)
    for i, row in enumerate(rows(cols)):
        key = int(credits.conversion_id[i])
        assert row["conversion_id"] == infos[key].conversion_id
        assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == (
            "reversals", 9, source[key].kafka_offset)  # fmt: skip
        assert row["is_reversal"] is True


def test_no_credits_make_empty_typed_columns() -> None:
    batch, credits, infos = attributed()
    none = credits.take(np.zeros(0, np.intp))
    cols = credit_columns(none, infos, batch.names, {}, 0, is_reversal=False)
    assert all(len(v) == 0 for v in cols.values())
    assert cols["conversion_id"].type == pa.string()
    assert cols["kafka_partition"].type == pa.int32()


def test_payout_rows_repeat_their_conversion_and_name_contract_and_partner() -> None:
    batch, credits, infos = attributed()
    registry = load_registry(REPO / "deploy" / "registry.example.yaml")
    types = {p.id: p.partner_type for p in registry.partners.values()}
    stage = PayoutStage(load_contracts(registry.contracts), types, dict(batch.names))
    cols = stage.payouts(credits, conversions_of(batch), infos, [], None, START_MS)  # type: ignore[arg-type]
    payouts = rows(cols)
    assert payouts, "the example registry's contracts pay for some of these conversions"
    contracts = {v.contract_id for v in stage.book.versions}
    for row in payouts:
        info = next(i for i in infos.values() if i.conversion_id == row["conversion_id"])
        assert row["advertiser_id"] == info.advertiser_id
        assert row["conversion_ts"].timestamp() * 1000 == info.conversion_ts_ms
        assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == (
            info.kafka_topic, info.kafka_partition, info.kafka_offset)  # fmt: skip
        assert row["contract_id"] in contracts
        assert row["partner_type"] == types.get(row["partner_id"], "")
        assert row["payout_type"] in {"cpa", "cpi", "revshare", "bonus", "cpi_plus"}
        assert row["created_at"].timestamp() * 1000 == START_MS
        assert row["install_id"] == ""

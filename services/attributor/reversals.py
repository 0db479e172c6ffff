"""Turning reversal events into negative credits: look up what the order was credited
(stored credits and those of the batch being processed), then `attribution.reversals`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attribution.columns import Credits
from attribution.ids import hash_id
from attribution.reversals import FULL_REVERSAL, Reversals, reverse
from services.attributor.rows import MODEL_IDS, ROLE_IDS, ConversionInfo

CREDIT_QUERY = (
    "SELECT conversion_id, toUnixTimestamp64Milli(conversion_ts), touch_key, advertiser_id, "
    "partner_id, identity, event_name, order_id, model, role, position, path_length, weight, "
    "credited_revenue, currency, is_reversal, kafka_topic, kafka_partition, kafka_offset "
    "FROM attribution_credits WHERE order_id IN {orders:Array(String)} "
    "AND advertiser_id IN {advertisers:Array(String)}"
)


@dataclass(frozen=True, slots=True)
class ReversalRequest:
    advertiser_id: str
    order_id: str
    amount: int  # minor units, or FULL_REVERSAL
    source: ConversionInfo  # where the reversal record was read (offsets for the sink)


@dataclass(slots=True)
class StoredCredit:
    info: ConversionInfo
    touch_key: int
    partner_id: str
    model: str
    role: str
    position: int
    path_length: int
    weight: float
    credited_revenue: int
    is_reversal: bool
    conversion_key: int  # hash_id(info.conversion_id)
    partner_key: int  # hash_id(partner_id)


def stored_credit(row: Sequence[Any]) -> StoredCredit:
    (conv, ts, touch, adv, partner, identity, event_name, order, model, role, position,
     length, weight, revenue, currency, is_rev, topic, part, offset) = row  # fmt: skip
    info = ConversionInfo(
        str(conv),
        int(ts),
        str(adv),
        str(identity),
        str(event_name),
        str(order),
        str(currency),
        str(topic),
        int(part),
        int(offset),
    )
    return StoredCredit(info, int(touch), str(partner), str(model), str(role), int(position),
                        int(length), float(weight), int(revenue), bool(is_rev),
                        hash_id(info.conversion_id), hash_id(str(partner)))  # fmt: skip


def _credits(rows: Sequence[StoredCredit]) -> Credits:
    return Credits(
        conversion_id=np.array([r.conversion_key for r in rows], np.int64),
        touch_id=np.array([r.touch_key for r in rows], np.int64),
        partner_id=np.array([r.partner_key for r in rows], np.int64),
        role=np.array([ROLE_IDS[r.role] for r in rows], np.int8),
        model=np.array([MODEL_IDS[r.model] for r in rows], np.int8),
        position=np.array([r.position for r in rows], np.int32),
        path_length=np.array([r.path_length for r in rows], np.int32),
        weight=np.array([r.weight for r in rows], np.float64),
        credited_revenue=np.array([r.credited_revenue for r in rows], np.int64),
    )


@dataclass(frozen=True, slots=True)
class ReversalOutcome:
    credits: Credits
    conversions: dict[int, ConversionInfo]  # conversion key -> the conversion's info
    sources: dict[int, ConversionInfo]  # conversion key -> the reversal record's offsets
    unmatched: list[ReversalRequest]  # orders with no credits yet: kept for later matching


def apply_reversals(
    requests: Sequence[ReversalRequest], credited: Sequence[StoredCredit]
) -> ReversalOutcome:
    """Negative credits for `requests` given every stored credit row of their orders."""
    by_order: dict[tuple[str, str], list[StoredCredit]] = {}
    for row in credited:
        by_order.setdefault((row.info.advertiser_id, row.info.order_id), []).append(row)
    ids: list[int] = []
    amounts: list[int] = []
    conversions: dict[int, ConversionInfo] = {}
    sources: dict[int, ConversionInfo] = {}
    unmatched: list[ReversalRequest] = []
    for req in requests:
        rows = [r for r in by_order.get((req.advertiser_id, req.order_id), []) if not r.is_reversal]
        if not rows:
            unmatched.append(req)
            continue
        for conv_key in sorted({r.conversion_key for r in rows}):
            ids.append(conv_key)
            amounts.append(req.amount)
            sources[conv_key] = req.source
        for r in rows:
            conversions[r.conversion_key] = r.info
    originals = [r for r in credited if not r.is_reversal and r.conversion_key in sources]
    already = [r for r in credited if r.is_reversal and r.conversion_key in sources]
    if not ids:
        empty = _credits([])
        return ReversalOutcome(empty, conversions, sources, unmatched)
    negative = reverse(
        _credits(originals),
        Reversals(np.array(ids, np.int64), np.array(amounts, np.int64)),
        _credits(already) if already else None,
    )
    return ReversalOutcome(negative, conversions, sources, unmatched)


__all__ = ["FULL_REVERSAL", "ReversalOutcome", "ReversalRequest", "apply_reversals"]

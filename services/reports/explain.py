"""GET /v1/conversions/{id}/explain: why a conversion was credited the way it was.

The conversion's journey key (its identity) is read back from `events` for the window that
can matter (the longest lookback plus the post-install window before the conversion: a
handful of rows), decoded exactly as the attributor decoded it, and given to the engine's
own `attribution.explain`: the path, each touch's role and weight, and the touches left
out with their reason. Amounts come from what was stored: the credits of the conversion
(net of reversals), the fraud flags the attributor set on them (`fraud_flags`, e.g.
`click_flooding`: credited, not paid) and its payouts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from attribution.columns import Model
from attribution.engine import EngineConfig
from attribution.errors import UnknownConversionError
from attribution.explain import Explanation, explain
from attribution.ids import hash_id
from services.attributor.decode import conversions_of, decode_records, touches_of
from services.bus.records import Record
from services.reports import queries as q
from services.reports.errors import UnknownConversion
from services.reports.store import ReportStore

MAX_CONVERSION_ID = 256


def iso(ts_ms: int | None) -> str | None:
    if ts_ms is None:
        return None
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def explain_conversion(
    store: ReportStore,
    advertiser_id: str,
    conversion_id: str,
    model: str,
    engine: EngineConfig,
) -> dict[str, Any]:
    """The explanation as JSON-ready values; UnknownConversion (404) if the advertiser has
    no conversion with that id."""
    if not conversion_id or len(conversion_id) > MAX_CONVERSION_ID:
        raise UnknownConversion(f"no conversion {conversion_id[:64]!r}")
    scope = {"advertiser_id": advertiser_id, "conversion_id": conversion_id}
    found = store.run(q.CONVERSION, scope)
    if not found:
        raise UnknownConversion(f"no conversion {conversion_id!r}")
    event_id, kind, identity, ts_ms, event_name, order_id, revenue, currency = found[0]
    since = int(ts_ms) - engine.windows.longest_ms - engine.post_install_ms
    events = store.run(
        q.JOURNEY_EVENTS,
        {**scope, "identity": identity, "since_ms": since, "until_ms": int(ts_ms)},
    )
    records = [
        Record(str(topic), int(part), int(offset), str(identity).encode(), str(payload).encode(),
               int(received))
        for topic, part, offset, payload, received in events
    ]  # fmt: skip
    batch = decode_records(records)
    event_ids = dict(zip(batch.events["event_key"], batch.events["event_id"], strict=True))
    try:
        touches, conversions = touches_of(batch), conversions_of(batch)
        explanation = explain(touches, conversions, hash_id(event_id), engine, Model[model.upper()])
    except UnknownConversionError as exc:
        raise UnknownConversion(f"conversion {conversion_id!r} cannot be replayed: {exc}") from exc

    stored = store.run(q.STORED_CREDITS, scope)
    payouts = store.run(q.CONVERSION_PAYOUTS, scope)

    def name(touch_key: int) -> str:
        return str(event_ids.get(touch_key, touch_key))

    def partner(partner_key: int) -> str:
        return batch.names.get(partner_key, str(partner_key))

    return {
        "conversion": {
            "conversion_id": event_id,
            "advertiser_id": advertiser_id,
            "type": kind,
            "event_name": event_name,
            "order_id": order_id,
            "ts": iso(int(ts_ms)),
            "revenue": int(revenue),
            "currency": currency,
            "identity": identity,
            "model": model,
            "status": explanation.status,
            "attributed": explanation.attributed,
            "unattributed_reason": explanation.unattributed_reason,
            "inherited_from": None
            if explanation.inherited_from is None
            else name(explanation.inherited_from),
        },
        "path": _path(explanation, stored, model, name, partner),
        "excluded": [
            {
                "touch_id": name(t.touch_id),
                "partner_id": partner(t.partner_id),
                "type": t.kind.name.lower(),
                "ts": iso(t.ts_ms),
                "reason": str(t.reason),
            }
            for t in explanation.excluded
        ],
        "payouts": [
            {"partner_id": p, "payout_type": t, "amount": int(a), "currency": c, "contract_id": k}
            for p, t, a, c, k in payouts
        ],
        "credits": [
            {
                "model": m,
                "touch_id": name(int(key)),
                "partner_id": p,
                "role": role,
                "position": int(pos),
                "weight": float(w),
                "credited_revenue": int(net),
                "reversed_revenue": int(rev),
                "fraud_flags": [str(f) for f in flags],
            }
            for m, key, p, role, pos, w, net, rev, flags in stored
        ],
    }


def _path(
    explanation: Explanation,
    stored: list[tuple[Any, ...]],
    model: str,
    name: Callable[[int], str],
    partner: Callable[[int], str],
) -> list[dict[str, Any]]:
    """Path touches under `model`: weight, amounts and fraud flags as stored when that
    model's credits were stored (net of reversals), else as the engine computes them now
    (`stored` says which; no flag then)."""
    mine = {int(row[1]): row for row in stored if row[0] == model}
    out = []
    for touch in explanation.path:
        row = mine.get(touch.touch_id)
        out.append(
            {
                "touch_id": name(touch.touch_id),
                "partner_id": partner(touch.partner_id),
                "type": None if touch.kind is None else touch.kind.name.lower(),
                "ts": iso(touch.ts_ms),
                "position": touch.position,
                "role": touch.role.name.lower(),
                "weight": float(row[5]) if row else touch.weight,
                "credited_revenue": int(row[6]) if row else touch.credited_revenue,
                "reversed_revenue": int(row[7]) if row else 0,
                "fraud_flags": [str(f) for f in row[8]] if row else [],
                "model": model,
                "stored": bool(mine),
            }
        )
    return out

"""Plain-Python reference implementation of the heuristic engine, written for clarity.

It follows the rules one conversion and one touch at a time, with an explicit set of touches
already credited, so the property tests can check the vectorised engine (`attribution.engine`)
against it, and the benchmarks can measure how much faster the engine is. It is slow on
purpose; never use it on the hot path.

Float operations are done in the same order as the engine's so that weights match bit for bit
(time decay calls numpy's `exp2`, the one function whose last bit may differ from `math`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.columns import Conversions, Credits, Model, Role, Touches, TouchKind
from attribution.engine import EngineConfig
from attribution.money import REMAINDER_BITS


@dataclass(frozen=True)
class _Touch:
    touch_id: int
    ts: int
    kind: int
    partner_id: int
    advertiser_id: int
    flags: int


@dataclass(frozen=True)
class _Conversion:
    conversion_id: int
    ts: int
    advertiser_id: int
    is_install: bool
    revenue: int
    click_id: int


@dataclass(frozen=True)
class _Row:
    conversion_id: int
    touch_id: int
    partner_id: int
    role: int
    model: int
    position: int
    path_length: int
    weight: float
    credited: int


def reference_attribute(
    touches: Touches,
    conversions: Conversions,
    config: EngineConfig | None = None,
    models: Sequence[Model] = (Model.LAST_TOUCH,),
) -> Credits:
    config = config or EngineConfig()
    touches_by_key: dict[tuple[int, int], dict[int, _Touch]] = defaultdict(dict)
    for i in range(len(touches)):
        key = (int(touches.advertiser_id[i]), int(touches.identity[i]))
        t = _Touch(
            int(touches.touch_id[i]), int(touches.ts_ms[i]), int(touches.kind[i]),
            int(touches.partner_id[i]), key[0], int(touches.flags[i]),
        )  # fmt: skip
        touches_by_key[key][t.touch_id] = t  # a repeated touch id counts once
    conversions_by_key: dict[tuple[int, int], dict[int, _Conversion]] = defaultdict(dict)
    for i in range(len(conversions)):
        key = (int(conversions.advertiser_id[i]), int(conversions.identity[i]))
        c = _Conversion(
            int(conversions.conversion_id[i]), int(conversions.ts_ms[i]), key[0],
            int(conversions.event_name[i]) == config.install_event,
            int(conversions.revenue[i]), int(conversions.click_id[i]),
        )  # fmt: skip
        conversions_by_key[key].setdefault(c.conversion_id, c)

    rows: list[_Row] = []
    for key, convs in conversions_by_key.items():
        ordered = sorted(touches_by_key[key].values(), key=lambda t: (t.ts, t.kind, t.touch_id))
        rows += _credit_key(
            ordered, sorted(convs.values(), key=lambda c: (c.ts, c.conversion_id)), config, models
        )
    return _to_credits(rows)


def _credit_key(
    touches: list[_Touch],
    conversions: list[_Conversion],
    config: EngineConfig,
    models: Sequence[Model],
) -> list[_Row]:
    rows: list[_Row] = []
    consumed: set[int] = set()
    last_install: tuple[int, _Touch | None] | None = None  # (ts, winning touch)
    for conv in conversions:
        if not conv.is_install and last_install is not None:
            install_ts, winner = last_install
            if conv.ts - install_ts <= config.post_install_ms:
                if winner is not None:  # inherit the install's credit; consume nothing
                    rows += [_single(conv, winner, m) for m in models]
                continue
        path = [t for t in touches if _eligible(t, conv, consumed, config)]
        if config.exclude_already_credited:
            consumed.update(t.touch_id for t in path)
        if conv.is_install:
            winner = _install_winner(path, conv.click_id)
            last_install = (conv.ts, winner)
            if winner is not None:
                rows += [_single(conv, winner, m) for m in models]
            continue
        if not path:
            continue  # unattributed
        for model in models:
            weights = _weights(model, path, conv, config)
            kept = [(i, w) for i, w in enumerate(weights) if w > 0]
            amounts = _split(conv.revenue, [w for _, w in kept])
            for (i, w), amount in zip(kept, amounts, strict=True):
                t = path[i]
                rows.append(_Row(conv.conversion_id, t.touch_id, t.partner_id,
                                 _role(i, len(path)), model, i, len(path), w, amount))  # fmt: skip
    return rows


def _eligible(t: _Touch, conv: _Conversion, consumed: set[int], config: EngineConfig) -> bool:
    if t.ts >= conv.ts:
        return False  # not strictly before
    if t.flags != 0:
        return False  # bot or fraud
    if conv.ts - t.ts > config.windows.window_ms(t.kind, t.advertiser_id, t.partner_id):
        return False  # outside its lookback window
    return not (config.exclude_already_credited and t.touch_id in consumed)


def _install_winner(path: list[_Touch], click_id: int) -> _Touch | None:
    clicks = [t for t in path if t.kind == TouchKind.CLICK]
    for t in clicks:
        if click_id != 0 and t.touch_id == click_id:
            return t  # the click the install names
    if clicks:
        return clicks[-1]  # the last click
    return path[-1] if path else None  # the last impression, or organic


def _single(conv: _Conversion, t: _Touch, model: Model) -> _Row:
    return _Row(
        conv.conversion_id, t.touch_id, t.partner_id, Role.SOLE, model, 0, 1, 1.0, conv.revenue
    )


def _role(position: int, length: int) -> Role:
    if length == 1:
        return Role.SOLE
    if position == 0:
        return Role.INTRODUCER
    if position == length - 1:
        return Role.CLOSER
    return Role.INFLUENCER


def _weights(
    model: Model, path: list[_Touch], conv: _Conversion, config: EngineConfig
) -> list[float]:
    k = len(path)
    if model == Model.LAST_TOUCH:
        return [1.0 if i == k - 1 else 0.0 for i in range(k)]
    if model == Model.FIRST_TOUCH:
        return [1.0 if i == 0 else 0.0 for i in range(k)]
    if model == Model.LINEAR:
        return [1.0 / k] * k
    if model == Model.TIME_DECAY:
        last_ts = path[-1].ts
        factors = [float(np.exp2(-((last_ts - t.ts) / config.half_life_ms))) for t in path]
        total = 0.0
        for f in factors:
            total += f
        return [f / total for f in factors]
    if model == Model.POSITION_BASED:
        if k <= 2:
            return [1.0 / k] * k
        first, middle, last = config.position_shares.normalized()
        return [first] + [middle / (k - 2)] * (k - 2) + [last]
    if model == Model.ROLE_WEIGHTS:
        shares = dict(config.role_shares_by_advertiser).get(conv.advertiser_id, config.role_shares)
        intro, infl, close = shares.introducer, shares.influencer, shares.closer
        if k == 1:
            return [1.0]
        if k == 2:
            total = intro + close
            return [intro / total, close / total] if total > 0 else [0.5, 0.5]
        total = intro + infl + close
        return [intro / total] + [infl / total / (k - 2)] * (k - 2) + [close / total]
    raise ValueError(f"not a heuristic model: {model}")


def _split(amount: int, weights: list[float]) -> list[int]:
    """Largest remainder: floors, then one unit each to the largest remainders (ties: order)."""
    size = abs(amount)
    exact = [size * w for w in weights]
    credited = [math.floor(x) for x in exact]
    quanta = [math.floor((x - c) * 2**REMAINDER_BITS) for x, c in zip(exact, credited, strict=True)]
    missing = min(max(size - sum(credited), 0), len(weights))
    for i in sorted(range(len(weights)), key=lambda i: (-quanta[i], i))[:missing]:
        credited[i] += 1
    return [-c for c in credited] if amount < 0 else credited


def _to_credits(rows: list[_Row]) -> Credits:
    def col(name: str, dtype: type[np.generic]) -> NDArray[Any]:
        return np.array([getattr(r, name) for r in rows], dtype=dtype)

    return Credits(
        conversion_id=col("conversion_id", np.int64),
        touch_id=col("touch_id", np.int64),
        partner_id=col("partner_id", np.int64),
        role=col("role", np.int8),
        model=col("model", np.int8),
        position=col("position", np.int32),
        path_length=col("path_length", np.int32),
        weight=col("weight", np.float64),
        credited_revenue=col("credited", np.int64),
    )

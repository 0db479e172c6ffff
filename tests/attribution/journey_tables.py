"""Hand-built journeys for table-driven tests: rows in hours, small readable ids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attribution.columns import Conversions, Credits, Model, Role, Touches, TouchFlag, TouchKind
from attribution.ids import INSTALL_EVENT, hash_id
from attribution.windows import HOUR_MS

PURCHASE = hash_id("purchase")
T0 = 1_700_000_000_000  # hour 0 of every table


def at(hours: float) -> int:
    return T0 + int(hours * HOUR_MS)


@dataclass(frozen=True)
class T:
    """A touch: `partner` defaults to 100 + touch_id so credits name their touch."""

    touch_id: int
    hours: float
    kind: TouchKind = TouchKind.CLICK
    identity: int = 1
    advertiser: int = 1
    partner: int = 0
    flags: int = 0


@dataclass(frozen=True)
class C:
    conversion_id: int
    hours: float
    revenue: int = 1000
    identity: int = 1
    advertiser: int = 1
    install: bool = False
    click_id: int = 0


BOT, FRAUD = int(TouchFlag.BOT), int(TouchFlag.FRAUD)
IMP, CLICK = TouchKind.IMPRESSION, TouchKind.CLICK


def touches(*rows: T) -> Touches:
    def col(values: list[int], dtype: type[np.generic] = np.int64) -> np.ndarray:
        return np.array(values, dtype=dtype)

    return Touches(
        touch_id=col([r.touch_id for r in rows]),
        identity=col([r.identity for r in rows]),
        ts_ms=col([at(r.hours) for r in rows]),
        kind=col([int(r.kind) for r in rows], np.int8),
        partner_id=col([r.partner or 100 + r.touch_id for r in rows]),
        campaign_id=col([7 for _ in rows]),
        advertiser_id=col([r.advertiser for r in rows]),
        flags=col([r.flags for r in rows], np.uint8),
    )


def conversions(*rows: C) -> Conversions:
    def col(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)

    return Conversions(
        conversion_id=col([r.conversion_id for r in rows]),
        identity=col([r.identity for r in rows]),
        ts_ms=col([at(r.hours) for r in rows]),
        advertiser_id=col([r.advertiser for r in rows]),
        event_name=col([INSTALL_EVENT if r.install else PURCHASE for r in rows]),
        order_id=col([0 for _ in rows]),
        revenue=col([r.revenue for r in rows]),
        currency=col([978 for _ in rows]),
        click_id=col([r.click_id for r in rows]),
    )


def canonical(credits: Credits) -> Credits:
    """Credits in a fixed order (model, conversion, position) for comparisons."""
    return credits.take(np.lexsort((credits.position, credits.conversion_id, credits.model)))


def assert_same_credits(actual: Credits, expected: Credits) -> None:
    a, b = canonical(actual), canonical(expected)
    assert len(a) == len(b), f"{len(a)} credits != {len(b)}\n{a}\n{b}"
    for name in Credits.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def credited(credits: Credits, model: Model | None = None) -> dict[int, list[tuple[int, int]]]:
    """conversion_id -> [(touch_id, credited_revenue), ...] in path order."""
    out: dict[int, list[tuple[int, int]]] = {}
    c = canonical(credits)
    for i in range(len(c)):
        if model is None or c.model[i] == model:
            out.setdefault(int(c.conversion_id[i]), []).append(
                (int(c.touch_id[i]), int(c.credited_revenue[i]))
            )
    return out


def roles_of(credits: Credits, conversion_id: int) -> list[Role]:
    c = canonical(credits)
    return [Role(int(r)) for r in c.role[c.conversion_id == conversion_id]]

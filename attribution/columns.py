"""Columnar (struct-of-arrays) inputs and outputs of the attribution engine.

Identifiers are hashed to int64 at the edge (see `attribution.ids`); times are epoch
milliseconds (UTC) in int64; money is integer minor units in int64. Every column of one
table has the same length. These types hold arrays only: no Kafka records, no dicts per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import Self, TypeVar

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]
I8 = NDArray[np.int8]
U8 = NDArray[np.uint8]
F64 = NDArray[np.float64]


class TouchKind(IntEnum):
    IMPRESSION = 0
    CLICK = 1


class Role(IntEnum):
    """Role of a credited touch in its journey.

    A journey of a single touch records that touch as `SOLE` (it is both introducer and closer).
    """

    INTRODUCER = 1
    INFLUENCER = 2
    CLOSER = 3
    SOLE = 4


class Model(IntEnum):
    LAST_TOUCH = 1
    FIRST_TOUCH = 2
    LINEAR = 3
    TIME_DECAY = 4
    POSITION_BASED = 5
    ROLE_WEIGHTS = 6
    MARKOV = 7
    SHAPLEY = 8


class TouchFlag(IntEnum):
    """Bits of `Touches.flags`: a flagged touch is stored but never credited."""

    BOT = 1
    FRAUD = 2


T = TypeVar("T", "Touches", "Conversions", "Credits")


def concat_rows(first: T, second: T) -> T:
    """The rows of `first`, then those of `second` (tables of one type)."""
    return type(first)(
        *(np.concatenate([getattr(first, f.name), getattr(second, f.name)]) for f in fields(first))
    )


def _check_lengths(table: object) -> None:
    lengths = {f.name: len(getattr(table, f.name)) for f in fields(table)}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{type(table).__name__} columns differ in length: {lengths}")


@dataclass(frozen=True, slots=True)
class Touches:
    """Clicks and impressions (and, for CPI, the click that led to an install)."""

    touch_id: I64  # hash of the event id; unique per touch
    identity: I64  # hash of the linked identity (visitor, device or customer)
    ts_ms: I64
    kind: I8  # TouchKind
    partner_id: I64
    campaign_id: I64
    advertiser_id: I64
    flags: U8  # TouchFlag bits

    def __post_init__(self) -> None:
        _check_lengths(self)

    def __len__(self) -> int:
        return int(self.touch_id.shape[0])

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Self:
        return type(self)(*(getattr(self, f.name)[index] for f in fields(self)))


@dataclass(frozen=True, slots=True)
class Conversions:
    """Conversions (purchases, signups, installs' in-app events) to be credited."""

    conversion_id: I64  # hash of the event id
    identity: I64
    ts_ms: I64
    advertiser_id: I64
    event_name: I64  # hash of the event name (purchase, signup, ...)
    order_id: I64  # hash of the order id (0 when none)
    revenue: I64  # minor units
    currency: I64  # ISO-4217 numeric code, or a hash of the code
    # `touch_id` of the click the conversion names (the hash of that click's event id), 0 when
    # none. Installs use it: a click id match beats a device match. May be omitted (all 0).
    click_id: I64 = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if self.click_id.shape[0] == 0 and self.conversion_id.shape[0] > 0:
            object.__setattr__(self, "click_id", np.zeros(self.conversion_id.shape[0], np.int64))
        _check_lengths(self)

    def __len__(self) -> int:
        return int(self.conversion_id.shape[0])

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Self:
        return type(self)(*(getattr(self, f.name)[index] for f in fields(self)))


@dataclass(frozen=True, slots=True)
class Credits:
    """One row per (conversion, credited touch, model)."""

    conversion_id: I64
    touch_id: I64
    partner_id: I64
    role: I8  # Role
    model: I8  # Model
    position: NDArray[np.int32]  # 0-based index of the touch in its journey
    path_length: NDArray[np.int32]
    weight: F64  # weights of one (conversion, model) sum to 1
    credited_revenue: I64  # minor units; sums exactly to the conversion's revenue

    def __post_init__(self) -> None:
        _check_lengths(self)

    def __len__(self) -> int:
        return int(self.conversion_id.shape[0])

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Self:
        return type(self)(*(getattr(self, f.name)[index] for f in fields(self)))

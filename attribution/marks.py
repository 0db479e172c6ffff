"""Conversions already credited, kept as markers that shape later journeys.

A later conversion of the same (advertiser, identity) needs two facts about earlier ones:

- when the previous conversion credited through its path happened: with the "already credited"
  rule on, touches strictly before it led to it (or were not eligible) and do not count again;
- the latest install and the touch it was credited to: events inside the post-install window
  inherit that credit.

`attribute_batch` returns one mark per new conversion and accepts the marks of earlier batches
(`JourneyState` keeps them): a conversion whose id has a mark is a replay and is skipped; an
inherited one is marked too (so a replay of it is recognised) but shapes nothing. For an
install, `winner_touch_id`/`winner_partner_id` name the touch it was credited to (0 when it
was organic, i.e. had no eligible touch).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Self

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64


@dataclass(frozen=True, slots=True)
class ConversionMarks:
    conversion_id: I64
    identity: I64
    advertiser_id: I64
    ts_ms: I64
    is_install: NDArray[np.bool_]
    inherited: NDArray[np.bool_]  # took an install's credit: kept only to recognise replays
    winner_touch_id: I64  # installs only; 0: organic
    winner_partner_id: I64

    def __post_init__(self) -> None:
        lengths = {len(getattr(self, f.name)) for f in fields(self)}
        if len(lengths) > 1:
            raise ValueError("ConversionMarks columns differ in length")

    def __len__(self) -> int:
        return int(self.conversion_id.shape[0])

    @classmethod
    def empty(cls) -> Self:
        z = np.zeros(0, np.int64)
        no = np.zeros(0, np.bool_)
        return cls(z, z, z, z, no, no, z, z)

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Self:
        return type(self)(*(getattr(self, f.name)[index] for f in fields(self)))

    def concat(self, other: Self) -> Self:
        return type(self)(
            *(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self))
        )

    @property
    def nbytes(self) -> int:
        return sum(int(getattr(self, f.name).nbytes) for f in fields(self))

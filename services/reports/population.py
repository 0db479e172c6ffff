"""Markov and Shapley credit from the population's distinct paths (counted by ClickHouse).

ClickHouse returns each distinct partner path with how many journeys took it, whether they
converted and their summed value (`queries.JOURNEY_PATHS`): distinct paths, not journeys.

- Shapley (the "value" characteristic) is additive over journeys: a path taken n times
  weighs the same as one journey worth their summed value, so it runs on the distinct paths.
- The Markov chain counts transitions, so there a path counted n times appears n times
  (`attribution.population.JourneyPaths` has no weights). Above `max_journeys` journeys the
  counts are scaled down proportionally (every path kept at least once: an approximation,
  reported as `scaled`).

Each partner is credited its share of the population's total converting value, exactly, in
minor units (`split_total`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.columns import F64, I64
from attribution.markov import TooManyStatesError, markov_attribution
from attribution.population import JourneyPaths, split_total
from attribution.shapley import shapley_attribution

MAX_JOURNEYS = 2_000_000


@dataclass(frozen=True, slots=True)
class PathTable:
    """Distinct paths as CSR arrays: path k is `steps[offsets[k]:offsets[k + 1]]` (partner
    indexes into `names`, oldest touch first), taken by `journeys[k]` journeys."""

    names: tuple[str, ...]
    offsets: I64
    steps: I64
    converted: NDArray[np.bool_]
    journeys: I64
    value: I64  # summed converting value of those journeys (minor units, >= 0)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> PathTable:
        """Rows of `queries.JOURNEY_PATHS`: (path, converted, journeys, value)."""
        paths = [[str(p) for p in row[0]] for row in rows]
        names = tuple(sorted(set(chain.from_iterable(paths))))
        index = {name: i for i, name in enumerate(names)}
        lengths = np.array([len(p) for p in paths], np.int64)
        total = int(lengths.sum())
        steps = np.fromiter((index[p] for p in chain.from_iterable(paths)), np.int64, total)
        return cls(
            names=names,
            offsets=np.concatenate([np.zeros(1, np.int64), np.cumsum(lengths)]).astype(np.int64),
            steps=steps,
            converted=np.array([bool(row[1]) for row in rows], np.bool_),
            journeys=np.array([int(row[2]) for row in rows], np.int64),
            value=np.array([max(0, int(row[3])) for row in rows], np.int64),
        )

    def __len__(self) -> int:
        return int(self.journeys.shape[0])

    def distinct(self) -> JourneyPaths:
        """One journey per distinct path, worth the path's summed value."""
        return JourneyPaths(self.offsets, self.steps, self.converted, self.value)

    def expanded(self, max_journeys: int = MAX_JOURNEYS) -> tuple[JourneyPaths, bool]:
        """Every path repeated by its count (scaled down above `max_journeys`), its value
        spread exactly over its copies."""
        total = int(self.journeys.sum())
        scaled = total > max_journeys
        copies = self.journeys
        if scaled:
            copies = np.maximum(1, np.rint(self.journeys * (max_journeys / total))).astype(np.int64)
        path = np.repeat(np.arange(len(self), dtype=np.int64), copies)
        lengths = np.diff(self.offsets)[path]
        offsets = np.concatenate([np.zeros(1, np.int64), np.cumsum(lengths)]).astype(np.int64)
        step_in_journey = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(
            offsets[:-1], lengths
        )
        steps = self.steps[np.repeat(self.offsets[:-1][path], lengths) + step_in_journey]
        safe = np.maximum(copies, 1)
        first_copy = np.repeat(np.cumsum(copies) - copies, copies)
        copy_index = np.arange(path.shape[0], dtype=np.int64) - first_copy
        value = (self.value // safe)[path] + (copy_index < (self.value % safe)[path])
        journeys = JourneyPaths(offsets, steps, self.converted[path], value.astype(np.int64))
        return journeys, scaled


@dataclass(frozen=True, slots=True)
class PopulationCredit:
    markov: dict[str, int] | None  # None when the chain is too large to solve
    shapley: dict[str, int]
    total_value: int
    journeys: int
    converting_journeys: int
    distinct_paths: int
    scaled: bool
    conversion_probability: float | None

    def summary(self) -> dict[str, object]:
        return {
            "journeys": self.journeys,
            "converting_journeys": self.converting_journeys,
            "distinct_paths": self.distinct_paths,
            "total_value": self.total_value,
            "scaled": self.scaled,
            "markov_conversion_probability": self.conversion_probability,
        }


def population_credit(table: PathTable, max_journeys: int = MAX_JOURNEYS) -> PopulationCredit:
    total_value = int(table.value[table.converted].sum())
    expanded, scaled = table.expanded(max_journeys)
    markov: dict[str, int] | None = None
    probability: float | None = None
    try:
        result = markov_attribution(expanded)
        markov = _credited(table.names, result.partner_ids, result.share, total_value)
        probability = result.conversion_probability
    except TooManyStatesError:
        pass
    shapley = shapley_attribution(table.distinct())
    return PopulationCredit(
        markov=markov,
        shapley=_credited(table.names, shapley.partner_ids, shapley.share, total_value),
        total_value=total_value,
        journeys=int(table.journeys.sum()),
        converting_journeys=int(table.journeys[table.converted].sum()),
        distinct_paths=len(table),
        scaled=scaled,
        conversion_probability=probability,
    )


def _credited(
    names: Sequence[str], partner_ids: I64, share: F64, total_value: int
) -> dict[str, int]:
    if partner_ids.shape[0] == 0 or float(share.sum()) <= 0:
        return {names[int(p)]: 0 for p in partner_ids}
    credited = split_total(total_value, share)
    return {names[int(p)]: int(v) for p, v in zip(partner_ids, credited, strict=True)}

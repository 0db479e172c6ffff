"""A population of journeys as CSR arrays, built from the engine's output, and the split of
a population-level result (Markov, Shapley) back onto each conversion.

- `JourneyPaths`: journeys (converting and not) as offsets + one partner per step.
- `population_from_credits`: the converting journeys are the paths of the credited conversions
  (the rows of one model that lists every touch, LINEAR by default, ordered by position); the
  non-converting journeys are, per (advertiser, identity), the unflagged touches that are in no
  path, in time order.
- `split_by_shares` / `credits_from_shares`: a conversion's revenue divided over its touches
  in proportion to the population share of each touch's partner (exact, largest remainder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attribution.columns import F64, I64, Credits, Model, Touches, TouchFlag
from attribution.errors import AttributionError, InvalidInputError
from attribution.ids import NONE_ID
from attribution.money import split_exact


class InvalidJourneysError(AttributionError):
    """Journey arrays that do not form a valid CSR population."""

    retriable = False
    reason = "invalid_journeys"


@dataclass(frozen=True, slots=True)
class JourneyPaths:
    """A population of journeys as CSR arrays.

    Journey j's steps are `partner_ids[offsets[j]:offsets[j + 1]]`, oldest first.
    """

    offsets: I64  # n_journeys + 1, starts at 0, non-decreasing, ends at len(partner_ids)
    partner_ids: I64  # one per step
    converted: NDArray[np.bool_]  # one per journey
    value: I64  # one per journey: converting value in minor units (>= 0; unused if not converted)

    def __post_init__(self) -> None:
        offsets = self.offsets
        if offsets.ndim != 1 or offsets.shape[0] < 1 or offsets.dtype != np.int64:
            raise InvalidJourneysError("offsets must be a 1-D int64 array of n_journeys + 1")
        n = offsets.shape[0] - 1
        if offsets[0] != 0 or offsets[-1] != self.partner_ids.shape[0]:
            raise InvalidJourneysError("offsets must start at 0 and end at the number of steps")
        if n > 0 and bool((np.diff(offsets) < 0).any()):
            raise InvalidJourneysError("offsets must be non-decreasing")
        if self.partner_ids.dtype != np.int64 or self.value.dtype != np.int64:
            raise InvalidJourneysError("partner_ids and value must be int64")
        if self.converted.dtype != np.bool_:
            raise InvalidJourneysError("converted must be a bool array")
        if self.converted.shape != (n,) or self.value.shape != (n,):
            raise InvalidJourneysError(f"converted and value must hold one entry per journey ({n})")
        if bool((self.value < 0).any()):
            raise InvalidJourneysError("value must be >= 0 (reversals are not journeys)")

    @classmethod
    def from_lists(
        cls, paths: Sequence[Sequence[int]], converted: Sequence[bool], value: Sequence[int]
    ) -> JourneyPaths:
        """Build from Python lists (tests, small inputs)."""
        lengths = np.array([len(p) for p in paths], dtype=np.int64)
        offsets = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(lengths)])
        steps = [int(step) for p in paths for step in p]
        return cls(
            offsets=offsets.astype(np.int64),
            partner_ids=np.array(steps, dtype=np.int64),
            converted=np.array(converted, dtype=np.bool_).reshape(len(paths)),
            value=np.array(value, dtype=np.int64).reshape(len(paths)),
        )

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def lengths(self) -> I64:
        return np.diff(self.offsets)

    def step_journeys(self) -> I64:
        """Journey index of every step."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths())

    def step_positions(self) -> I64:
        """0-based position of every step in its journey."""
        steps = np.arange(self.partner_ids.shape[0], dtype=np.int64)
        return steps - self.offsets[:-1][self.step_journeys()]

    def non_empty(self) -> JourneyPaths:
        """The journeys that have at least one step (same steps, fewer journeys)."""
        keep = self.lengths() > 0
        if bool(keep.all()):
            return self
        offsets = np.concatenate([np.zeros(1, np.int64), np.cumsum(self.lengths()[keep])])
        return JourneyPaths(
            offsets.astype(np.int64), self.partner_ids, self.converted[keep], self.value[keep]
        )


# ------------------------------------------------------------- from the engine's output


@dataclass(frozen=True, slots=True)
class Population:
    """Journeys built by `population_from_credits`: the converting ones first."""

    paths: JourneyPaths
    conversion_id: I64  # per journey; NONE_ID (0) for the non-converting ones
    path_rows: I64  # per step of the converting journeys: its row in the credits
    n_converting: int

    def converting(self) -> JourneyPaths:
        n, p = self.n_converting, self.paths
        end = int(p.offsets[n])
        return JourneyPaths(p.offsets[: n + 1], p.partner_ids[:end], p.converted[:n], p.value[:n])


def population_from_credits(
    credits: Credits, touches: Touches, path_model: Model = Model.LINEAR
) -> Population:
    """Converting journeys from the credits of `path_model`, non-converting from the touches.

    `path_model` must list every touch of a path (LINEAR does; so do time decay and role
    weights). A converting journey's value is the sum of its credited revenue (its revenue);
    a conversion with a negative revenue (a correction) is no journey. Touches flagged bot or
    fraud, and touches in some path, are in no non-converting journey; those are in journey
    order (ts, kind, touch_id), exact duplicate rows counted once, like the engine does.
    """
    of_model = np.flatnonzero(credits.model == path_model)
    negative = np.unique(credits.conversion_id[of_model[credits.credited_revenue[of_model] < 0]])
    chosen = of_model[~np.isin(credits.conversion_id[of_model], negative)]
    rows = chosen[np.lexsort((credits.position[chosen], credits.conversion_id[chosen]))]
    conv_ids, starts = np.unique(credits.conversion_id[rows], return_index=True)
    value = np.zeros(conv_ids.shape[0], np.int64)
    if rows.shape[0]:
        value = np.add.reduceat(credits.credited_revenue[rows], starts)

    flagged = (touches.flags & (TouchFlag.BOT | TouchFlag.FRAUD)) != 0
    free = np.flatnonzero(~flagged & ~np.isin(touches.touch_id, credits.touch_id[rows]))
    columns = (
        touches.touch_id,
        touches.kind,
        touches.ts_ms,
        touches.identity,
        touches.advertiser_id,
    )
    free = free[np.lexsort(tuple(c[free] for c in columns))]
    sorted_columns = [c[free] for c in columns]
    repeated = np.ones(max(free.shape[0] - 1, 0), dtype=bool)
    for c in sorted_columns:
        repeated &= c[1:] == c[:-1]
    free = free[np.concatenate([[True], ~repeated])] if free.shape[0] else free
    key_changes = np.ones(free.shape[0], dtype=bool)
    key_changes[1:] = (touches.advertiser_id[free][1:] != touches.advertiser_id[free][:-1]) | (
        touches.identity[free][1:] != touches.identity[free][:-1]
    )
    free_starts = np.flatnonzero(key_changes)

    n_conv, n_free = int(conv_ids.shape[0]), int(free_starts.shape[0])
    offsets = np.concatenate(
        [starts, rows.shape[0] + free_starts, [rows.shape[0] + free.shape[0]]]
    ).astype(np.int64)
    paths = JourneyPaths(
        offsets=offsets,
        partner_ids=np.concatenate([credits.partner_id[rows], touches.partner_id[free]]),
        converted=np.concatenate([np.ones(n_conv, bool), np.zeros(n_free, bool)]),
        value=np.concatenate([value, np.zeros(n_free, np.int64)]).astype(np.int64),
    )
    conversion_id = np.concatenate([conv_ids, np.full(n_free, NONE_ID, np.int64)])
    return Population(paths, conversion_id.astype(np.int64), rows.astype(np.int64), n_conv)


def credits_from_shares(
    credits: Credits, population: Population, partner_ids: I64, shares: F64, model: Model
) -> Credits:
    """Credits of `model` for every converting journey of `population` (built from `credits`)
    from population-level partner shares: see `split_by_shares`."""
    weight, credited = split_by_shares(population.converting(), partner_ids, shares)
    rows = population.path_rows
    return Credits(
        conversion_id=credits.conversion_id[rows],
        touch_id=credits.touch_id[rows],
        partner_id=credits.partner_id[rows],
        role=credits.role[rows],
        model=np.full(rows.shape[0], model, np.int8),
        position=credits.position[rows],
        path_length=credits.path_length[rows],
        weight=weight,
        credited_revenue=credited,
    )


def split_by_shares(paths: JourneyPaths, partner_ids: I64, shares: F64) -> tuple[F64, I64]:
    """Divide each journey's value over its steps in proportion to population shares.

    A partner's share (`shares[k]` for `partner_ids[k]`; partners absent from it count 0) is
    divided equally over that partner's steps in the journey, then the step weights are
    normalised per journey. A journey whose partners all have share 0 falls back to an equal
    split over its steps, so every journey's value is always credited in full. Returns the
    weight (summing to 1 per non-empty journey) and the credited value (summing exactly to
    the journey's value) of every step.
    """
    step_share = np.zeros(paths.partner_ids.shape[0])
    if partner_ids.shape[0]:
        order = np.argsort(partner_ids, kind="stable")
        at = np.minimum(np.searchsorted(partner_ids[order], paths.partner_ids), order.shape[0] - 1)
        known = partner_ids[order][at] == paths.partner_ids
        step_share[known] = shares[order][at[known]]
    # Steps of the same partner in the same journey share that partner's share equally.
    _, dense = np.unique(paths.partner_ids, return_inverse=True)
    pair = paths.step_journeys() * max(int(dense.max(initial=0)) + 1, 1) + dense.reshape(-1)
    _, pair_id, pair_count = np.unique(pair, return_inverse=True, return_counts=True)
    raw = step_share / pair_count[pair_id.reshape(-1)]
    weight = _normalise_per_group(paths.offsets, raw)
    credited = split_by_weights(paths.offsets, paths.value, weight)
    return weight, credited


# ----------------------------------------------------------------- exact money splits


def split_total(total: int, weights: F64) -> I64:
    """`total` minor units divided in proportion to `weights`, summing exactly to `total`."""
    offsets = np.array([0, weights.shape[0]], dtype=np.int64)
    return split_by_weights(offsets, np.array([total], dtype=np.int64), weights)


def split_by_weights(offsets: I64, totals: I64, weights: F64) -> I64:
    """Exact split of `totals[g]` over the rows `offsets[g]:offsets[g+1]` by `weights`.

    Weights are normalised per group (a group whose weights sum to 0 splits equally), then
    `attribution.money.split_exact` does the largest-remainder split: each group's rows sum
    exactly to its total, ties go to the earlier row, negative totals mirror positive ones.
    """
    lengths = np.diff(offsets)
    if bool(((lengths == 0) & (totals != 0)).any()):
        raise InvalidInputError("cannot split a non-zero total over an empty group")
    group = np.repeat(np.arange(lengths.shape[0], dtype=np.intp), lengths)
    return split_exact(totals.astype(np.int64), group, _normalise_per_group(offsets, weights))


def _normalise_per_group(offsets: I64, weights: F64) -> F64:
    lengths = np.diff(offsets)
    group = np.repeat(np.arange(lengths.shape[0], dtype=np.int64), lengths)
    clean = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    sums = np.bincount(group, weights=clean, minlength=lengths.shape[0])
    equal = 1.0 / np.maximum(lengths, 1)
    zero = sums[group] <= 0
    return np.where(zero, equal[group], clean / np.where(zero, 1.0, sums[group]))

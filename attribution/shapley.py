"""Data-driven Shapley attribution over a population of journeys.

Players are the partners; a journey is described by the *set* of partners on its path. The
coalition value `v(S)` is computed from the journeys whose partner set is a subset of `S`:

- `"value"`: the converting value of those journeys (the default);
- `"conversions"`: the number of converting journeys among them;
- `"conversion_rate"`: converting journeys / all journeys among them (0 when there are none).
  This one also uses the non-converting journeys.

Exact computation (`method="exact"`, chosen by `"auto"` when at most `max_exact_partners`
partners occur): per-journey masks are counted per subset (`bincount`), summed over subsets
with the zeta transform (`v[S] = sum of f[T] for T ⊆ S`, one vectorised pass per partner), and
each partner's value is `sum over S without i of |S|!(n-|S|-1)!/n! * (v(S+i) - v(S))`.

For `"value"` and `"conversions"`, `v` is a sum of unanimity games (each converting journey
adds its worth to every coalition containing its whole partner set), whose Shapley value is
known in closed form: each journey's worth divided equally over its distinct partners. That
is exact for any number of partners (`method="closed_form"`, chosen by `"auto"` above
`max_exact_partners`), and the subset computation is kept as its independent check.

`"conversion_rate"` is not additive; above `max_exact_partners` it is approximated by
permutation sampling (`method="sampling"`, seeded): for each random order of the partners,
a journey joins the growing coalition at the position of its last partner in that order, so
the value of every prefix, and so every partner's marginal contribution, comes from one
`bincount` over the journeys. The estimate is unbiased; `stderr` holds the standard error of
each partner's value (sample standard deviation / sqrt(permutations)), and `approximate` is
True. Shares clip negative Shapley values (a partner whose presence lowers the conversion
rate) to 0 before normalising; `shapley_value` keeps the raw values.

Journeys without steps are left out; credited value sums exactly to the converting value of
the journeys that have steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from attribution.columns import F64, I64
from attribution.population import JourneyPaths, split_total

Characteristic = Literal["value", "conversions", "conversion_rate"]
Method = Literal["auto", "exact", "closed_form", "sampling"]

DEFAULT_MAX_EXACT_PARTNERS = 15
HARD_MAX_EXACT_PARTNERS = 24  # 2**24 float64 coalition values = 128 MiB


@dataclass(frozen=True, slots=True)
class ShapleyResult:
    partner_ids: I64  # ascending
    shapley_value: F64  # raw Shapley value, in units of the characteristic
    share: F64  # max(value, 0) normalised to sum to 1 (all 0 when nothing is worth anything)
    credited_value: I64  # sums exactly to `total_value`
    total_value: int
    method: str  # "exact", "closed_form" or "sampling"
    approximate: bool
    stderr: F64 | None  # sampling only: standard error of `shapley_value`
    n_permutations: int  # sampling only (0 otherwise)


def shapley_attribution(
    paths: JourneyPaths,
    *,
    characteristic: Characteristic = "value",
    method: Method = "auto",
    max_exact_partners: int = DEFAULT_MAX_EXACT_PARTNERS,
    n_permutations: int = 500,
    seed: int = 0,
) -> ShapleyResult:
    """Shapley value of every partner over the population `paths`."""
    if characteristic not in ("value", "conversions", "conversion_rate"):
        raise ValueError(f"unknown characteristic {characteristic!r}")
    paths = paths.non_empty()
    partners, journey, member = _distinct_members(paths)
    n_partners = int(partners.shape[0])
    total_value = int(paths.value[paths.converted].sum())
    additive = characteristic != "conversion_rate"
    if method == "auto":
        if n_partners <= max_exact_partners:
            method = "exact"
        else:
            method = "closed_form" if additive else "sampling"
    if method == "closed_form" and not additive:
        raise ValueError("the closed form holds only for the additive characteristics")
    if method == "exact" and n_partners > HARD_MAX_EXACT_PARTNERS:
        raise ValueError(f"exact Shapley over {n_partners} partners needs 2**{n_partners} values")

    worth = _journey_worth(paths, characteristic)
    stderr: F64 | None = None
    used_permutations = 0
    if n_partners == 0:
        values = np.zeros(0)
    elif method == "exact":
        values = _exact(paths, journey, member, n_partners, characteristic, worth)
    elif method == "closed_form":
        size = np.bincount(journey, minlength=len(paths))
        values = np.bincount(
            member, weights=(worth / np.maximum(size, 1))[journey], minlength=n_partners
        ).astype(np.float64)
    else:
        values, stderr = _sampled(
            paths, journey, member, n_partners, characteristic, worth, n_permutations, seed
        )
        used_permutations = n_permutations

    positive = np.clip(values, 0.0, None)
    total_positive = float(positive.sum())
    share = positive / total_positive if total_positive > 0 else np.zeros(n_partners)
    return ShapleyResult(
        partner_ids=partners,
        shapley_value=values,
        share=share,
        credited_value=split_total(total_value, share) if n_partners else np.zeros(0, np.int64),
        total_value=total_value,
        method=method,
        approximate=method == "sampling",
        stderr=stderr,
        n_permutations=used_permutations,
    )


def _distinct_members(paths: JourneyPaths) -> tuple[I64, I64, I64]:
    """Partner ids, and (journey, dense partner) for each distinct partner of each journey,
    sorted by journey then partner."""
    partners, dense = np.unique(paths.partner_ids, return_inverse=True)
    n_partners = max(int(partners.shape[0]), 1)
    codes = np.unique(paths.step_journeys() * n_partners + dense.reshape(-1))
    return partners.astype(np.int64), codes // n_partners, codes % n_partners


def _segment_starts(journey: I64) -> I64:
    """First row of each journey in the (journey, partner) pairs; every journey is non-empty."""
    return np.flatnonzero(np.diff(journey, prepend=-1)).astype(np.int64)


def _journey_worth(paths: JourneyPaths, characteristic: Characteristic) -> F64:
    if characteristic == "value":
        return np.where(paths.converted, paths.value, 0).astype(np.float64)
    return paths.converted.astype(np.float64)


def _exact(
    paths: JourneyPaths,
    journey: I64,
    member: I64,
    n_partners: int,
    characteristic: Characteristic,
    worth: F64,
) -> F64:
    bits = np.left_shift(np.int64(1), member)
    mask = np.bitwise_or.reduceat(bits, _segment_starts(journey))
    n_subsets = 1 << n_partners
    coalition = _zeta(np.bincount(mask, weights=worth, minlength=n_subsets).astype(np.float64))
    if characteristic == "conversion_rate":
        seen = _zeta(np.bincount(mask, minlength=n_subsets).astype(np.float64))
        coalition = np.divide(coalition, seen, out=np.zeros(n_subsets), where=seen > 0)
    size = np.zeros(n_subsets, dtype=np.int64)
    subsets = np.arange(n_subsets, dtype=np.int64)
    for bit in range(n_partners):
        size += (subsets >> bit) & 1
    weight_by_size = np.array(
        [
            factorial(s) * factorial(n_partners - s - 1) / factorial(n_partners)
            for s in range(n_partners)
        ]
    )
    values = np.empty(n_partners)
    for bit in range(n_partners):
        halves = coalition.reshape(-1, 2, 1 << bit)
        without = size.reshape(-1, 2, 1 << bit)[:, 0, :]
        gain = halves[:, 1, :] - halves[:, 0, :]
        values[bit] = float((weight_by_size[without] * gain).sum())
    return values


def _zeta(f: F64) -> F64:
    """Subset sums: out[S] = sum of f[T] over T ⊆ S (S, T as bitmasks)."""
    out = f.copy()
    n_bits = int(out.shape[0]).bit_length() - 1
    for bit in range(n_bits):
        halves = out.reshape(-1, 2, 1 << bit)
        halves[:, 1, :] += halves[:, 0, :]
    return out


def _sampled(
    paths: JourneyPaths,
    journey: I64,
    member: I64,
    n_partners: int,
    characteristic: Characteristic,
    worth: F64,
    n_permutations: int,
    seed: int,
) -> tuple[F64, F64]:
    if n_permutations < 2:
        raise ValueError("sampling needs at least 2 permutations")
    rng = np.random.default_rng(seed)
    starts = _segment_starts(journey)
    total = np.zeros(n_partners)
    total_sq = np.zeros(n_partners)
    for _ in range(n_permutations):
        order = rng.permutation(n_partners)
        position = np.empty(n_partners, dtype=np.int64)
        position[order] = np.arange(n_partners)
        joins_at = np.maximum.reduceat(position[member], starts)
        prefix_worth = np.cumsum(np.bincount(joins_at, weights=worth, minlength=n_partners))
        if characteristic == "conversion_rate":
            seen = np.cumsum(np.bincount(joins_at, minlength=n_partners)).astype(np.float64)
            prefix_worth = np.divide(prefix_worth, seen, out=np.zeros(n_partners), where=seen > 0)
        gain = np.diff(prefix_worth, prepend=0.0)  # gain[t]: marginal of the t-th partner
        contribution = np.empty(n_partners)
        contribution[order] = gain
        total += contribution
        total_sq += contribution * contribution
    mean = total / n_permutations
    variance = np.maximum(total_sq / n_permutations - mean * mean, 0.0)
    stderr: NDArray[np.float64] = np.sqrt(variance * n_permutations / (n_permutations - 1))
    return mean, stderr / np.sqrt(n_permutations)

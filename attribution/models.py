"""Heuristic models: the weight of each touch of a path (weights of a path sum to 1).

- last_touch / first_touch: the closer / the introducer gets 1.
- linear: every touch gets 1/k.
- time_decay: weight proportional to 2 ** -((ts_last - ts) / half_life), ts_last being the
  latest touch of the path (the same as measuring from the conversion, once normalised, and
  it cannot underflow to an all-zero path).
- position_based: one touch -> 1; two -> 0.5/0.5; more -> first/last get their shares and
  the middle share is split equally (shares normalised to sum to 1; 40/20/40 by default).
- role_weights: introducer/influencer/closer shares (per advertiser, from its contract),
  renormalised over the roles present: one touch -> 1; two -> introducer and closer shares
  renormalised (0.5/0.5 if both are 0); more -> influencers split their share equally.

Only touches with a weight > 0 get a credit row (last_touch: one row per conversion).
Float operations are written in the same order as in `attribution.reference`, so both give
bit-identical weights (time decay uses numpy's `exp2` in both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attribution.columns import F64, I64, Model
from attribution.errors import ConfigError, UnsupportedModelError
from attribution.journeys import Journeys

HEURISTIC_MODELS = (
    Model.LAST_TOUCH,
    Model.FIRST_TOUCH,
    Model.LINEAR,
    Model.TIME_DECAY,
    Model.POSITION_BASED,
    Model.ROLE_WEIGHTS,
)


def _check_shares(name: str, shares: tuple[float, float, float]) -> None:
    if not all(math.isfinite(s) and s >= 0 for s in shares) or sum(shares) <= 0:
        raise ConfigError(f"{name} must be finite, >= 0 and not all 0, got {shares}")


@dataclass(frozen=True, slots=True)
class PositionShares:
    first: float = 0.4
    middle: float = 0.2
    last: float = 0.4

    def __post_init__(self) -> None:
        _check_shares("position shares", (self.first, self.middle, self.last))

    def normalized(self) -> tuple[float, float, float]:
        total = self.first + self.middle + self.last
        return self.first / total, self.middle / total, self.last / total


@dataclass(frozen=True, slots=True)
class RoleShares:
    introducer: float = 0.3
    influencer: float = 0.2
    closer: float = 0.5

    def __post_init__(self) -> None:
        _check_shares("role shares", (self.introducer, self.influencer, self.closer))


@dataclass(frozen=True, slots=True)
class ModelParams:
    half_life_ms: int
    position: PositionShares
    roles: RoleShares
    roles_by_advertiser: tuple[tuple[int, RoleShares], ...] = ()

    def __post_init__(self) -> None:
        if self.half_life_ms <= 0:
            raise ConfigError(f"half_life_ms must be > 0, got {self.half_life_ms}")

    def role_shares_for(self, advertiser_id: int) -> RoleShares:
        return dict(self.roles_by_advertiser).get(advertiser_id, self.roles)


def path_weights(
    model: Model,
    paths: Journeys,
    entries: NDArray[np.intp],
    row_advertiser: I64,
    params: ModelParams,
) -> tuple[NDArray[np.intp], F64]:
    """(entries credited, their weights) for `model`, among the path `entries` given.

    `entries` are whole paths (all entries of each of their rows, in order).
    """
    pos, length = paths.position[entries], paths.length[entries]
    if model == Model.LAST_TOUCH or model == Model.FIRST_TOUCH:
        pick = entries[pos == (length - 1 if model == Model.LAST_TOUCH else 0)]
        return pick, np.ones(pick.shape[0])
    k = length.astype(np.float64)
    if model == Model.LINEAR:
        return entries, 1.0 / k
    if model == Model.TIME_DECAY:
        row = paths.entry_row[entries]
        ts = paths.entry_ts[entries]
        last_ts = paths.entry_ts[paths.path_offsets[row + 1] - 1]
        factor = np.exp2(-((last_ts - ts).astype(np.float64) / params.half_life_ms))
        total = np.bincount(row, factor, minlength=len(paths))  # sequential, like the reference
        return _positive(entries, factor / total[row])
    if model == Model.POSITION_BASED:
        first, middle, last = params.position.normalized()
        with np.errstate(divide="ignore", invalid="ignore"):  # k - 2 == 0 is discarded below
            inner = np.where(pos == 0, first, np.where(pos == length - 1, last, middle / (k - 2)))
        return _positive(entries, np.where(length <= 2, 1.0 / k, inner))
    if model == Model.ROLE_WEIGHTS:
        return _positive(entries, _role_weights(paths, entries, row_advertiser, params))
    raise UnsupportedModelError(f"{model.name} is not a heuristic model")


def _positive(entries: NDArray[np.intp], weight: F64) -> tuple[NDArray[np.intp], F64]:
    keep = weight > 0
    if bool(keep.all()):
        return entries, weight
    return entries[keep], weight[keep]


def _role_weights(
    paths: Journeys, entries: NDArray[np.intp], row_advertiser: I64, params: ModelParams
) -> F64:
    pos, length = paths.position[entries], paths.length[entries]
    k = length.astype(np.float64)
    intro: F64 | float
    infl: F64 | float
    close: F64 | float
    if params.roles_by_advertiser:
        intro, infl, close = _shares_per_entry(paths, entries, row_advertiser, params)
    else:
        intro, infl, close = params.roles.introducer, params.roles.influencer, params.roles.closer
    total3 = intro + infl + close
    total2 = intro + close
    any2 = np.asarray(total2) > 0
    safe2 = np.where(any2, total2, 1.0)
    first = np.where(length == 2, np.where(any2, intro / safe2, 0.5), intro / total3)
    last = np.where(length == 2, np.where(any2, close / safe2, 0.5), close / total3)
    with np.errstate(divide="ignore", invalid="ignore"):  # k - 2 == 0 is discarded below
        middle = infl / total3 / (k - 2)
    weight = np.where(pos == 0, first, np.where(pos == length - 1, last, middle))
    return np.where(length == 1, 1.0, weight)


def _shares_per_entry(
    paths: Journeys, entries: NDArray[np.intp], row_advertiser: I64, params: ModelParams
) -> tuple[F64, F64, F64]:
    """Role shares of each entry's advertiser (its contract's, else the default)."""
    adv = row_advertiser[paths.entry_row[entries]]
    known = np.array([a for a, _ in params.roles_by_advertiser], np.int64)
    sort = np.argsort(known)
    at = np.minimum(np.searchsorted(known[sort], adv), known.shape[0] - 1)
    hit = known[sort][at] == adv
    chosen = [params.roles_by_advertiser[i][1] for i in sort]
    default = params.roles
    return (
        np.where(hit, np.array([c.introducer for c in chosen])[at], default.introducer),
        np.where(hit, np.array([c.influencer for c in chosen])[at], default.influencer),
        np.where(hit, np.array([c.closer for c in chosen])[at], default.closer),
    )

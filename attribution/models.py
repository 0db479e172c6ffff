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
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from attribution.columns import F64, I64, Model
from attribution.errors import ConfigError, UnsupportedModelError
from attribution.journeys import Journeys

_T = TypeVar("_T", bound=np.generic)

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


class CreditedPaths:
    """The paths the heuristic models weigh: every entry of `rows`, in order.

    `rows` are increasing and each has a non-empty path. Columns of the entries are gathered
    once, when first asked for, and shared by every model of a call. Models pick entries by
    their index among these ("local" indices).
    """

    __slots__ = ("_cache", "every", "offsets", "paths", "rows")

    def __init__(self, paths: Journeys, rows: NDArray[np.intp]) -> None:
        self.paths = paths
        self.rows = rows
        lengths = paths.path_offsets[rows + 1] - paths.path_offsets[rows]
        self.offsets = np.zeros(rows.shape[0] + 1, np.int64)  # local entry offsets per row
        np.cumsum(lengths, out=self.offsets[1:])
        # The entries of `rows` are every path entry (no install has a path): local == global.
        self.every = int(self.offsets[-1]) == paths.entry_row.shape[0]
        self._cache: dict[str, NDArray[Any]] = {}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def entries(self) -> NDArray[np.intp] | None:
        """Global index of each credited entry (None: every path entry, in order)."""
        if self.every:
            return None
        if "entries" not in self._cache:
            self._cache["entries"] = self.paths.entries_of(self.rows)
        return self._cache["entries"]

    def ends(self, *, last: bool) -> NDArray[np.intp]:
        """Global index of the last (or first) entry of each row."""
        offsets = self.paths.path_offsets
        return (offsets[self.rows + 1] - 1 if last else offsets[self.rows]).astype(np.intp)

    def column(self, values: NDArray[_T]) -> NDArray[_T]:
        """`values` (one per path entry of `paths`) at the credited entries."""
        entries = self.entries
        return values if entries is None else values[entries]

    def global_index(self, local: NDArray[np.intp]) -> NDArray[np.intp]:
        entries = self.entries
        return local if entries is None else entries[local]

    def _cached(self, name: str, values: NDArray[_T]) -> NDArray[_T]:
        if name not in self._cache:
            self._cache[name] = self.column(values)
        cached: NDArray[_T] = self._cache[name]
        return cached

    @property
    def position(self) -> NDArray[np.int32]:
        return self._cached("position", self.paths.position)

    @property
    def length(self) -> NDArray[np.int32]:
        return self._cached("length", self.paths.length)

    @property
    def entry_row(self) -> NDArray[np.intp]:
        return self._cached("entry_row", self.paths.entry_row)

    def local_row(self) -> NDArray[np.int64]:
        """Index of each entry's row among `rows`."""
        if "local_row" not in self._cache:
            lengths = np.diff(self.offsets)
            self._cache["local_row"] = np.repeat(np.arange(lengths.shape[0]), lengths)
        local_row: NDArray[np.int64] = self._cache["local_row"]
        return local_row


def path_weights(
    model: Model, credited: CreditedPaths, row_advertiser: I64, params: ModelParams
) -> tuple[NDArray[np.intp] | None, F64]:
    """(local indices of the entries credited, None: all of them; their weights) for `model`."""
    if model == Model.LAST_TOUCH or model == Model.FIRST_TOUCH:
        ends = credited.offsets[1:] - 1 if model == Model.LAST_TOUCH else credited.offsets[:-1]
        return ends.astype(np.intp, copy=False), np.ones(ends.shape[0])
    pos, length = credited.position, credited.length
    k = length.astype(np.float64)
    if model == Model.LINEAR:
        np.divide(1.0, k, out=k)
        return None, k
    if model == Model.TIME_DECAY:
        paths, rows = credited.paths, credited.rows
        ts = credited.column(paths.entry_ts)
        last_ts = np.repeat(
            paths.entry_ts[paths.path_offsets[rows + 1] - 1], np.diff(credited.offsets)
        )
        last_ts -= ts
        factor = last_ts.astype(np.float64)
        factor /= params.half_life_ms
        np.negative(factor, out=factor)
        np.exp2(factor, out=factor)
        row = credited.local_row()
        total = np.bincount(row, factor, minlength=rows.shape[0])  # sequential, like the reference
        factor /= total[row]
        return _positive(factor)
    if model == Model.POSITION_BASED:
        first, middle, last = params.position.normalized()
        with np.errstate(divide="ignore", invalid="ignore"):  # k - 2 == 0 is discarded below
            inner = np.where(pos == 0, first, np.where(pos == length - 1, last, middle / (k - 2)))
        return _positive(np.where(length <= 2, 1.0 / k, inner))
    if model == Model.ROLE_WEIGHTS:
        return _positive(_role_weights(credited, row_advertiser, params))
    raise UnsupportedModelError(f"{model.name} is not a heuristic model")


def _positive(weight: F64) -> tuple[NDArray[np.intp] | None, F64]:
    keep = weight > 0
    if bool(keep.all()):
        return None, weight
    pick = np.flatnonzero(keep)
    return pick, weight.take(pick)


def _role_weights(credited: CreditedPaths, row_advertiser: I64, params: ModelParams) -> F64:
    pos, length = credited.position, credited.length
    k = length.astype(np.float64)
    intro: F64 | float
    infl: F64 | float
    close: F64 | float
    if params.roles_by_advertiser:
        intro, infl, close = _shares_per_entry(credited, row_advertiser, params)
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
    credited: CreditedPaths, row_advertiser: I64, params: ModelParams
) -> tuple[F64, F64, F64]:
    """Role shares of each entry's advertiser (its contract's, else the default)."""
    adv = row_advertiser[credited.entry_row]
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

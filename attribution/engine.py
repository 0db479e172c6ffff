"""The heuristic attribution engine: columns in, credits out, several models in one pass.

    credits = attribute(touches, conversions, EngineConfig(), models=(Model.LINEAR,))

Journeys (`attribution.journeys`) are built once, then every requested model weighs the same
paths. Credits hold one row per (conversion, credited touch, model); the weights of a
(conversion, model) sum to 1 and its credited revenue sums exactly to the conversion's revenue
(`attribution.money`). A conversion without any eligible touch gets no row: it is unattributed
(`AttributionResult.unattributed` counts them; `attribution.explain` says why).

Conventions:

- Installs: a conversion whose `event_name` is `INSTALL_EVENT` (`hash_id("install")`,
  configurable as `EngineConfig.install_event`) is an install. It is credited to one touch
  (click id match, then last click, then last impression; `attribution.installs`) with weight
  1 and role SOLE, the same row for every model. Non-install conversions of the same
  (advertiser, identity) within `post_install_ms` after it inherit that credit (same touch and
  partner, their own revenue) instead of being re-attributed.
- Roles: first touch INTRODUCER, last CLOSER, others INFLUENCER; a one-touch path is SOLE.
- Ties: touches by (ts, kind, touch_id) -- impression before click at the same millisecond --
  conversions by (ts, conversion_id).
- Output order, deterministic and independent of the input's row order: by model (as
  requested); within a model, path credits by (journey key, ts, conversion id, position),
  then install credits, then inherited credits.
- Markov/Shapley are population models (`attribution.markov`, `attribution.shapley`): they can
  take their journeys from `attribution.journey_population.population_from_touches`, built
  with the same rules (`attribution.journeys`).
- Journey keys: with a single advertiser in the batch the identity itself is the key, so
  the output order within a model follows identities; otherwise a mixed 64-bit key.
- Pure: no clock, no IO; the same input gives the same output, whatever the row order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I8, I64, Conversions, Credits, Model, Role, Touches
from attribution.errors import ConfigError, UnsupportedModelError
from attribution.ids import INSTALL_EVENT
from attribution.installs import inherited_touches, install_winners
from attribution.journeys import ConversionStatus, JourneyRules, Journeys, build_journeys
from attribution.marks import ConversionMarks
from attribution.models import (
    HEURISTIC_MODELS,
    CreditedPaths,
    ModelParams,
    PositionShares,
    RoleShares,
    path_weights,
)
from attribution.money import split_exact
from attribution.roles import roles
from attribution.windows import DAY_MS, LookbackWindows

_T = TypeVar("_T", bound=np.generic)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    windows: LookbackWindows = field(default_factory=LookbackWindows)
    exclude_already_credited: bool = True
    half_life_ms: int = 7 * DAY_MS
    position_shares: PositionShares = field(default_factory=PositionShares)
    role_shares: RoleShares = field(default_factory=RoleShares)
    role_shares_by_advertiser: tuple[tuple[int, RoleShares], ...] = ()
    post_install_ms: int = 30 * DAY_MS
    install_event: int = INSTALL_EVENT

    def __post_init__(self) -> None:
        if self.post_install_ms < 0:
            raise ConfigError(f"post_install_ms must be >= 0, got {self.post_install_ms}")
        self.params()  # validates the half-life

    def rules(self) -> JourneyRules:
        return JourneyRules(
            self.windows, self.exclude_already_credited, self.post_install_ms, self.install_event
        )

    def params(self) -> ModelParams:
        return ModelParams(
            self.half_life_ms,
            self.position_shares,
            self.role_shares,
            self.role_shares_by_advertiser,
        )


@dataclass(frozen=True, slots=True)
class AttributionResult:
    credits: Credits
    marks: ConversionMarks  # one per new conversion: what later batches need (JourneyState)
    journeys: Journeys
    unattributed: int  # new conversions that got no credit (no eligible touch, organic install)


def attribute(
    touches: Touches,
    conversions: Conversions,
    config: EngineConfig | None = None,
    models: Sequence[Model] = (Model.LAST_TOUCH,),
) -> Credits:
    """Credits of every conversion for every model (see the module docstring)."""
    return attribute_batch(touches, conversions, config, models).credits


def attribute_batch(
    touches: Touches,
    conversions: Conversions,
    config: EngineConfig | None = None,
    models: Sequence[Model] = (Model.LAST_TOUCH,),
    prior: ConversionMarks | None = None,
) -> AttributionResult:
    """`attribute`, given the marks of earlier batches, also returning this batch's marks."""
    config = config or EngineConfig()
    for model in models:
        if model not in HEURISTIC_MODELS:
            raise UnsupportedModelError(f"{Model(model).name} is not a heuristic model")
    prior = prior if prior is not None else ConversionMarks.empty()
    paths = build_journeys(touches, conversions, config.rules(), prior)
    row_conv = paths.conversion_index
    revenue = conversions.revenue[row_conv]
    conv_id = conversions.conversion_id[row_conv]
    row_adv = conversions.advertiser_id[row_conv]

    winner = install_winners(paths, conversions.click_id[row_conv], touches.touch_id)
    won = np.flatnonzero(winner >= 0)
    won_touch = paths.touch_index[winner[won]]
    heir_touch, heir_partner = inherited_touches(
        paths, winner, touches.touch_id, touches.partner_id, prior
    )
    heirs = np.flatnonzero(heir_touch != 0)
    single_rows = np.concatenate([won, heirs])
    single_touch = np.concatenate([touches.touch_id[won_touch], heir_touch[heirs]])
    single_partner = np.concatenate([touches.partner_id[won_touch], heir_partner[heirs]])

    journey_rows = np.flatnonzero(
        (paths.status == ConversionStatus.JOURNEY)
        & (paths.path_offsets[1:] > paths.path_offsets[:-1])
    )
    credited = CreditedPaths(paths, journey_rows)
    entry = _EntryColumns(credited, conv_id, touches, shared=len(models) > 1)
    parts: list[Credits] = []
    params = config.params()
    for model in models:
        if model in (Model.LAST_TOUCH, Model.FIRST_TOUCH):  # one entry per row, weight 1
            parts.append(_end_credits(credited, model, conv_id, revenue, touches))
        else:
            pick, weight = path_weights(Model(model), credited, row_adv, params)
            parts.append(
                Credits(
                    conversion_id=entry.conversion_id(pick),
                    touch_id=entry.touch_id(pick),
                    partner_id=entry.partner_id(pick),
                    role=entry.role(pick),
                    model=np.full(weight.shape[0], model, np.int8),
                    position=entry.position(pick),
                    path_length=entry.length(pick),
                    weight=weight,
                    credited_revenue=split_exact(revenue, entry.row(pick), weight),
                )
            )
        n = single_rows.shape[0]
        parts.append(
            Credits(
                conversion_id=conv_id[single_rows],
                touch_id=single_touch,
                partner_id=single_partner,
                role=np.full(n, Role.SOLE, np.int8),
                model=np.full(n, model, np.int8),
                position=np.zeros(n, np.int32),
                path_length=np.ones(n, np.int32),
                weight=np.ones(n),
                credited_revenue=revenue[single_rows],
            )
        )

    credited_rows = np.zeros(len(paths), np.bool_)
    credited_rows[single_rows] = True
    credited_rows[journey_rows] = True  # a path always has a weight > 0
    is_install = paths.status == ConversionStatus.INSTALL
    winner_touch = np.zeros(len(paths), np.int64)
    winner_partner = np.zeros(len(paths), np.int64)
    winner_touch[won] = touches.touch_id[won_touch]
    winner_partner[won] = touches.partner_id[won_touch]
    marks = ConversionMarks(
        conversion_id=conv_id,
        identity=conversions.identity[row_conv],
        advertiser_id=row_adv,
        ts_ms=conversions.ts_ms[row_conv],
        is_install=is_install,
        inherited=paths.status == ConversionStatus.INHERITED,
        winner_touch_id=winner_touch,
        winner_partner_id=winner_partner,
    )
    return AttributionResult(
        credits=concat_credits(parts),
        marks=marks,
        journeys=paths,
        unattributed=len(paths) - int(np.count_nonzero(credited_rows)),
    )


def _end_credits(
    credited: CreditedPaths, model: Model, conv_id: I64, revenue: I64, touches: Touches
) -> Credits:
    """LAST_TOUCH / FIRST_TOUCH: the closer (introducer) of each path, weight 1."""
    rows, paths = credited.rows, credited.paths
    entry = credited.ends(last=model == Model.LAST_TOUCH)
    touch = paths.touch_index[entry]
    position, length = paths.position[entry], paths.length[entry]
    return Credits(
        conversion_id=conv_id[rows],
        touch_id=touches.touch_id[touch],
        partner_id=touches.partner_id[touch],
        role=roles(position, length),
        model=np.full(rows.shape[0], model, np.int8),
        position=position,
        path_length=length,
        weight=np.ones(rows.shape[0]),
        credited_revenue=revenue[rows],
    )


class _EntryColumns:
    """Credit columns of the credited path entries, picked by local index (None: all).

    With `shared` (several models), each column is gathered once for every credited entry and
    the models take their picks from it; otherwise only the picked entries are gathered.
    """

    def __init__(
        self, credited: CreditedPaths, conv_id: I64, touches: Touches, *, shared: bool
    ) -> None:
        self._credited, self._conv_id, self._touches = credited, conv_id, touches
        self._shared = shared
        self._columns: dict[str, NDArray[Any]] = {}

    def _column(
        self, name: str, pick: NDArray[np.intp] | None, values: Callable[[_Index], NDArray[_T]]
    ) -> NDArray[_T]:
        credited = self._credited
        if not self._shared:
            return values(credited.entries if pick is None else credited.global_index(pick))
        if name not in self._columns:
            self._columns[name] = values(credited.entries)
        column: NDArray[_T] = self._columns[name]
        return column if pick is None else column[pick]

    def row(self, pick: NDArray[np.intp] | None) -> NDArray[np.intp]:
        return self._column("row", pick, lambda g: _at(self._credited.paths.entry_row, g))

    def conversion_id(self, pick: NDArray[np.intp] | None) -> I64:
        return self._conv_id[self.row(pick)]

    def touch_id(self, pick: NDArray[np.intp] | None) -> I64:
        index = self._credited.paths.touch_index
        return self._column("touch_id", pick, lambda g: self._touches.touch_id[_at(index, g)])

    def partner_id(self, pick: NDArray[np.intp] | None) -> I64:
        index = self._credited.paths.touch_index
        return self._column("partner_id", pick, lambda g: self._touches.partner_id[_at(index, g)])

    def position(self, pick: NDArray[np.intp] | None) -> NDArray[np.int32]:
        return self._column("position", pick, lambda g: _at(self._credited.paths.position, g))

    def length(self, pick: NDArray[np.intp] | None) -> NDArray[np.int32]:
        return self._column("length", pick, lambda g: _at(self._credited.paths.length, g))

    def role(self, pick: NDArray[np.intp] | None) -> I8:
        if self._shared:
            if "role" not in self._columns:
                self._columns["role"] = roles(self.position(None), self.length(None))
            column: I8 = self._columns["role"]
            return column if pick is None else column[pick]
        return roles(self.position(pick), self.length(pick))


_Index = NDArray[np.intp] | None  # path entries (None: every path entry)


def _at(values: NDArray[_T], index: _Index) -> NDArray[_T]:
    return values if index is None else values[index]


def concat_credits(parts: Sequence[Credits]) -> Credits:
    if not parts:
        return empty_credits()
    return Credits(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Credits.__dataclass_fields__)
    )


def empty_credits() -> Credits:
    z = np.zeros(0, np.int64)
    small = np.zeros(0, np.int8)
    mid = np.zeros(0, np.int32)
    return Credits(z, z, z, small, small, mid, mid, np.zeros(0), z)

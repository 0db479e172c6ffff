"""Explain one conversion: its path, each touch's role, weight and credit, and what was left out.

`explain` recomputes the conversion's journey key only (its advertiser and identity: nothing
else can change its credit) with the engine itself, so the explanation is what the engine
did, then says why each other touch of that key before the conversion was not eligible, the
first reason that applies, in this order: bot, fraud, outside_window, already_credited (it
led to an earlier conversion), not_install_winner (an install credits one touch only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64, Conversions, Model, Role, Touches, TouchFlag, TouchKind
from attribution.engine import EngineConfig, attribute_batch
from attribution.errors import UnknownConversionError
from attribution.journeys import NO_TIME, ConversionStatus, Journeys
from attribution.marks import ConversionMarks
from attribution.roles import role_of


class ExclusionReason(StrEnum):
    BOT = "bot"
    FRAUD = "fraud"
    OUTSIDE_WINDOW = "outside_window"
    ALREADY_CREDITED = "already_credited"
    NOT_INSTALL_WINNER = "not_install_winner"


@dataclass(frozen=True, slots=True)
class PathTouch:
    touch_id: int
    partner_id: int
    ts_ms: int | None  # None: the install's touch of an earlier batch (known by its mark only)
    kind: TouchKind | None
    position: int
    role: Role
    weight: float  # 0.0 for a path touch the model gives nothing (e.g. not last under last_touch)
    credited_revenue: int


@dataclass(frozen=True, slots=True)
class ExcludedTouch:
    touch_id: int
    partner_id: int
    ts_ms: int
    kind: TouchKind
    reason: ExclusionReason


@dataclass(frozen=True, slots=True)
class Explanation:
    conversion_id: int
    model: Model
    status: str  # "journey", "install" or "inherited"
    revenue: int
    attributed: bool
    unattributed_reason: str | None  # no_eligible_touch | organic_install | inherited_organic
    inherited_from: int | None  # the install's conversion id, for an inherited conversion
    path: tuple[PathTouch, ...]
    excluded: tuple[ExcludedTouch, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (enums by name)."""
        out = asdict(self)
        out["model"] = self.model.name.lower()
        for touch in out["path"]:
            touch["role"] = Role(touch["role"]).name.lower()
            touch["kind"] = None if touch["kind"] is None else TouchKind(touch["kind"]).name.lower()
        for touch in out["excluded"]:
            touch["kind"] = TouchKind(touch["kind"]).name.lower()
            touch["reason"] = str(touch["reason"])
        return out


def explain(
    touches: Touches,
    conversions: Conversions,
    conversion_id: int,
    config: EngineConfig | None = None,
    model: Model = Model.LAST_TOUCH,
    prior: ConversionMarks | None = None,
) -> Explanation:
    config = config or EngineConfig()
    prior = prior if prior is not None else ConversionMarks.empty()
    at = np.flatnonzero(conversions.conversion_id == conversion_id)
    if at.shape[0] == 0:
        raise UnknownConversionError(f"no conversion with id {conversion_id}")
    adv, ident = conversions.advertiser_id[at[0]], conversions.identity[at[0]]
    own_t = touches.take((touches.advertiser_id == adv) & (touches.identity == ident))
    own_c = conversions.take((conversions.advertiser_id == adv) & (conversions.identity == ident))
    own_m = prior.take((prior.advertiser_id == adv) & (prior.identity == ident))
    result = attribute_batch(own_t, own_c, config, (model,), own_m)
    paths = result.journeys
    rows = np.flatnonzero(own_c.conversion_id[paths.conversion_index] == conversion_id)
    if rows.shape[0] == 0:  # a replay of a conversion of an earlier batch
        raise UnknownConversionError(f"conversion {conversion_id} was credited in an earlier batch")
    row = int(rows[0])
    status = ConversionStatus(int(paths.status[row]))
    revenue = int(own_c.revenue[paths.conversion_index[row]])
    mine = result.credits.take(result.credits.conversion_id == conversion_id)
    credit_of = {int(p): (float(w), int(r)) for p, w, r in zip(
        mine.position, mine.weight, mine.credited_revenue, strict=True)}  # fmt: skip

    path: list[PathTouch] = []
    in_path = paths.touch_index[paths.path_offsets[row] : paths.path_offsets[row + 1]]
    inherited_from = None
    if status == ConversionStatus.INHERITED:
        inherited_from, path = _inherited(paths, row, own_c, own_t, own_m, mine.touch_id)
    elif status == ConversionStatus.INSTALL:
        for touch_id in mine.touch_id:
            i = int(np.flatnonzero(own_t.touch_id == touch_id)[0])
            path.append(_path_touch(own_t, i, 0, Role.SOLE, 1.0, revenue))
    else:
        for position, i in enumerate(in_path):
            weight, credited = credit_of.get(position, (0.0, 0))
            role = role_of(position, len(in_path))
            path.append(_path_touch(own_t, int(i), position, role, weight, credited))
    excluded = [] if status == ConversionStatus.INHERITED else _excluded(
        own_t, in_path, {p.touch_id for p in path}, int(own_c.ts_ms[paths.conversion_index[row]]),
        int(paths.prev_journey_ts[row]), config,
    )  # fmt: skip
    attributed = len(mine) > 0
    reason = None
    if not attributed:
        reason = {ConversionStatus.JOURNEY: "no_eligible_touch",
                  ConversionStatus.INSTALL: "organic_install",
                  ConversionStatus.INHERITED: "inherited_organic"}[status]  # fmt: skip
    return Explanation(
        conversion_id=conversion_id, model=model, status=status.name.lower(), revenue=revenue,
        attributed=attributed, unattributed_reason=reason, inherited_from=inherited_from,
        path=tuple(path), excluded=tuple(excluded),
    )  # fmt: skip


def _path_touch(
    t: Touches, i: int, position: int, role: Role, weight: float, credited: int
) -> PathTouch:
    return PathTouch(
        touch_id=int(t.touch_id[i]), partner_id=int(t.partner_id[i]), ts_ms=int(t.ts_ms[i]),
        kind=TouchKind(int(t.kind[i])), position=position, role=role, weight=weight,
        credited_revenue=credited,
    )  # fmt: skip


def _inherited(
    paths: Journeys,
    row: int,
    own_c: Conversions,
    own_t: Touches,
    own_m: ConversionMarks,
    credited: I64,
) -> tuple[int, list[PathTouch]]:
    """The install an inherited conversion takes its credit from, and that credit."""
    if int(paths.inherited_row[row]) >= 0:
        source = int(own_c.conversion_id[paths.conversion_index[int(paths.inherited_row[row])]])
    else:
        source = int(own_m.conversion_id[int(paths.inherited_mark[row])])
    path: list[PathTouch] = []
    revenue = int(own_c.revenue[paths.conversion_index[row]])
    for touch_id in credited:
        found = np.flatnonzero(own_t.touch_id == touch_id)
        if found.shape[0]:
            path.append(_path_touch(own_t, int(found[0]), 0, Role.SOLE, 1.0, revenue))
        else:
            partner = int(own_m.winner_partner_id[own_m.winner_touch_id == touch_id][0])
            path.append(PathTouch(int(touch_id), partner, None, None, 0, Role.SOLE, 1.0, revenue))
    return source, path


def _excluded(
    t: Touches,
    in_path: NDArray[np.intp],
    credited: set[int],
    conv_ts: int,
    prev_ts: int,
    config: EngineConfig,
) -> list[ExcludedTouch]:
    """Touches of the key before the conversion that got no credit, with the first reason."""
    order = np.lexsort((t.touch_id, t.kind, t.ts_ms))
    window = config.windows.for_touches(t.kind, t.advertiser_id, t.partner_id)
    eligible = set(int(i) for i in in_path)
    out: list[ExcludedTouch] = []
    for i in order:
        touch_id = int(t.touch_id[i])
        ts = int(t.ts_ms[i])
        if ts >= conv_ts or touch_id in credited:
            continue
        if int(i) in eligible:
            reason = ExclusionReason.NOT_INSTALL_WINNER
        elif int(t.flags[i]) & TouchFlag.BOT:
            reason = ExclusionReason.BOT
        elif int(t.flags[i]) & TouchFlag.FRAUD:
            reason = ExclusionReason.FRAUD
        elif conv_ts - ts > int(window[i]):
            reason = ExclusionReason.OUTSIDE_WINDOW
        elif config.exclude_already_credited and prev_ts != NO_TIME and ts < prev_ts:
            reason = ExclusionReason.ALREADY_CREDITED
        else:
            continue  # an exact duplicate of a touch listed already
        kind = TouchKind(int(t.kind[i]))
        out.append(ExcludedTouch(touch_id, int(t.partner_id[i]), ts, kind, reason))
    return out

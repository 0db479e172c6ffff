"""The population of journeys (Markov, Shapley) straight from touches and conversions.

    paths = population_from_touches(touches, conversions, EngineConfig())
    result = markov_attribution(paths)

It holds the journeys `population_from_credits(attribute(touches, conversions, config,
(Model.LINEAR,)), touches).paths` holds, in another order (a population is a multiset of
journeys: Markov and Shapley do not depend on their order), without computing any credit:

- converting journeys: the path of each conversion credited through its path (its touches'
  partners, oldest first), and a single step for an install credited to one touch or a
  post-install event inheriting it; value: the conversion's revenue. A conversion with a
  negative revenue (a correction) or without any credit is in no journey.
- non-converting journeys: per journey key, the touches that are neither flagged bot or fraud
  nor in a converting journey, in journey order (ts, kind, touch_id). Exact duplicate rows
  count once, as everywhere in the engine.

The journeys come from `attribution.journeys` (the engine's own rules); touches are put in
journey order once, with the paths.
"""

from __future__ import annotations

import numpy as np

from attribution.columns import Conversions, Touches, TouchFlag
from attribution.engine import EngineConfig
from attribution.installs import inherited_touches, install_winners
from attribution.journeys import ConversionStatus, build_journeys_in_order
from attribution.marks import ConversionMarks
from attribution.population import JourneyPaths


def population_from_touches(
    touches: Touches, conversions: Conversions, config: EngineConfig | None = None
) -> JourneyPaths:
    """Converting and non-converting journeys of the batch (see the module docstring)."""
    config = config or EngineConfig()
    prior = ConversionMarks.empty()
    paths, order = build_journeys_in_order(touches, conversions, config.rules(), prior)
    revenue = conversions.revenue[paths.conversion_index]
    counted = revenue >= 0

    # Converting journeys through their path: every entry of a JOURNEY row.
    journey_row = paths.status == ConversionStatus.JOURNEY
    journey_row &= counted
    length = paths.path_length
    has_path = length > 0
    path_rows = np.flatnonzero(journey_row & has_path)
    if path_rows.shape[0] == np.count_nonzero(has_path):
        path_touch = paths.touch_index  # every path is credited through its path
    else:
        path_touch = paths.touch_index[paths.entries_of(path_rows)]

    # Installs credited to one touch, and the events inheriting their credit.
    winner = install_winners(paths, conversions.click_id[paths.conversion_index], touches.touch_id)
    won = np.flatnonzero((winner >= 0) & counted)
    won_touch = paths.touch_index[winner[won]]
    heir_touch_id, _ = inherited_touches(paths, winner, touches.touch_id, touches.partner_id, prior)
    heirs = np.flatnonzero((heir_touch_id != 0) & counted)
    from_new = paths.inherited_row[heirs]  # no prior: every heir inherits from a new install
    heir_touch = paths.touch_index[winner[from_new]]

    # Non-converting journeys: the free touches of each key, in journey order.
    taken = (touches.flags & (TouchFlag.BOT | TouchFlag.FRAUD)) != 0
    taken[path_touch] = True
    taken[won_touch] = True
    taken[heir_touch] = True
    free = taken[order.touch_index]
    np.logical_not(free, out=free)
    free_touch = np.compress(free, order.touch_index)
    free_before = np.zeros(free.shape[0] + 1, np.int64)
    np.cumsum(free, out=free_before[1:])
    per_key = free_before[order.group_offsets]
    per_key = np.diff(per_key)
    per_key = np.compress(per_key > 0, per_key)

    n_path, n_single, n_free = path_rows.shape[0], won.shape[0] + heirs.shape[0], per_key.shape[0]
    lengths = np.concatenate([length[path_rows], np.ones(n_single, np.int64), per_key])
    offsets = np.zeros(lengths.shape[0] + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # An heir's step is its install's winning touch (no prior batch here): one gather for all.
    steps = np.concatenate([path_touch, won_touch, heir_touch, free_touch])
    return JourneyPaths(
        offsets=offsets,
        partner_ids=touches.partner_id[steps],
        converted=np.arange(lengths.shape[0]) < n_path + n_single,
        value=np.concatenate(
            [revenue[path_rows], revenue[won], revenue[heirs], np.zeros(n_free, np.int64)]
        ),
    )

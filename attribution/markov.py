"""Data-driven Markov attribution (removal effect), solved exactly on the absorbing chain.

A population of journeys (converting *and* non-converting) defines a Markov chain over the
states {start, s_1 .. s_S, conversion, null}: each journey is the walk
`start -> state(step 1) -> ... -> state(step L) -> conversion | null`. At order 1 a state is
the partner of the step; at order k it is the tuple of the last k partners (shorter at the
beginning of a journey). Transition probabilities are transition counts over all journeys,
normalised per source state.

With `Q` the transient block and `r` the column into `conversion`, the conversion probability
from every transient state is the solution `x` of `(I - Q) x = r` (`numpy.linalg.solve`, no
simulation). Removing partner `i` sends every transition into a state that contains `i` to
`null`, i.e. forces `x_R = 0` on that set of states `R`. With `G = (I - Q)^-1` this is a
low-rank update and needs no new factorisation:

    P(conv without i) = x_start - G[start, R] @ solve(G[R, R], x_R)

(at order 1, `R = {i}` and the gain is `G[start, i] * x_i / G[i, i]`: the probability of ever
reaching `i` times the probability of converting from it). The removal effect of `i` is
`1 - P(conv without i) / P(conv)`; removal effects normalised to sum to one are the partners'
shares, and each partner is credited `share * total converting value` in exact integer minor
units (largest remainder).

Journeys without any step carry no partner: they are left out of the chain and their value is
not credited.

`attribution.population` builds the journeys (`JourneyPaths`) and splits the result back onto
each conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attribution.codes import dense_codes
from attribution.columns import F64, I64
from attribution.errors import AttributionError
from attribution.population import JourneyPaths, split_total

DEFAULT_MAX_STATES = 2500


class TooManyStatesError(AttributionError):
    """The chain would need a dense matrix larger than the configured bound."""

    retriable = False
    reason = "too_many_states"


@dataclass(frozen=True, slots=True)
class MarkovResult:
    """Per-partner result of `markov_attribution`, partners in ascending id order."""

    partner_ids: I64
    removal_effect: F64  # 1 - P(conv without partner) / P(conv), in [0, 1]
    share: F64  # removal effects normalised to sum to 1 (all 0 when nothing converts)
    credited_value: I64  # sums exactly to `total_value` (0 everywhere when nothing converts)
    conversion_probability: float  # P(conv) from the start state
    total_value: int  # value of the converting journeys that have at least one step
    order: int
    n_states: int  # transient states other than start


def markov_attribution(
    paths: JourneyPaths, *, order: int = 1, max_states: int = DEFAULT_MAX_STATES
) -> MarkovResult:
    """Exact removal-effect Markov attribution of order `order` over `paths`."""
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    paths = paths.non_empty()
    partners, dense = dense_codes(paths.partner_ids)
    n_partners = int(partners.shape[0])
    total_value = int(paths.value[paths.converted].sum())
    if n_partners == 0:
        return _empty_result(partners, order)

    tuples, state_of_step = _states(paths, dense, order)
    n_states = int(tuples.shape[0])
    if n_states + 1 > max_states:
        raise TooManyStatesError(
            f"order {order} needs {n_states + 1} transient states, above max_states={max_states}"
        )
    q, r = _transition_blocks(paths, state_of_step, n_states)
    n_transient = n_states + 1
    system = np.eye(n_transient) - q
    solved = np.linalg.solve(system, np.column_stack([r, np.eye(n_transient)]))
    x = solved[:, 0]  # conversion probability from each transient state; x[0] is start
    inverse = solved[:, 1:]  # G = (I - Q)^-1
    p_conv = float(x[0])
    if p_conv <= 0.0:
        return _empty_result(partners, order, n_states=n_states, total_value=total_value)

    if order == 1:
        # State s+1 is partner s (np.unique orders both the same way).
        idx = tuples[:, 0] + 1
        gain = inverse[0, idx] * x[idx] / inverse[idx, idx]
        gain_by_partner = np.zeros(n_partners)
        gain_by_partner[tuples[:, 0]] = gain
    else:
        gain_by_partner = np.empty(n_partners)
        for partner in range(n_partners):
            removed = np.flatnonzero((tuples == partner).any(axis=1)) + 1
            lam = np.linalg.solve(inverse[np.ix_(removed, removed)], x[removed])
            gain_by_partner[partner] = float(inverse[0, removed] @ lam)

    removal_effect = np.clip(gain_by_partner / p_conv, 0.0, 1.0)
    total_effect = float(removal_effect.sum())
    share = removal_effect / total_effect if total_effect > 0 else np.zeros(n_partners)
    credited = split_total(total_value, share)
    return MarkovResult(
        partner_ids=partners.astype(np.int64),
        removal_effect=removal_effect,
        share=share,
        credited_value=credited,
        conversion_probability=p_conv,
        total_value=total_value,
        order=order,
        n_states=n_states,
    )


def _empty_result(
    partners: NDArray[np.int64], order: int, *, n_states: int = 0, total_value: int = 0
) -> MarkovResult:
    n = int(partners.shape[0])
    return MarkovResult(
        partner_ids=partners.astype(np.int64),
        removal_effect=np.zeros(n),
        share=np.zeros(n),
        credited_value=np.zeros(n, dtype=np.int64),
        conversion_probability=0.0,
        total_value=total_value,
        order=order,
        n_states=n_states,
    )


def _states(
    paths: JourneyPaths, dense: NDArray[np.int64], order: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct state tuples (S, order), padded with -1, and the state id (1..S) of each step."""
    if order == 1:  # the states are the partners (`dense` codes every partner, 0..P-1)
        n_partners = int(dense.max(initial=-1)) + 1
        return np.arange(n_partners, dtype=np.int64).reshape(-1, 1), dense + 1
    position = paths.step_positions()
    columns = np.full((dense.shape[0], order), -1, dtype=np.int64)
    columns[:, 0] = dense
    for lag in range(1, order):
        has_lag = position >= lag
        columns[has_lag, lag] = dense[np.flatnonzero(has_lag) - lag]
    tuples2, inverse2 = np.unique(columns, axis=0, return_inverse=True)
    return tuples2.astype(np.int64), inverse2.reshape(-1).astype(np.int64) + 1


def _transition_blocks(
    paths: JourneyPaths, state_of_step: NDArray[np.int64], n_states: int
) -> tuple[F64, F64]:
    """Transition probabilities among transient states (Q) and into conversion (r).

    Every journey (non-empty here) is the walk `start, its states, conversion | null`. Each
    step's transition is coded `source * n_codes + target` in one array: the pair with the
    next step, except that a journey's last step goes to its terminal instead; then one
    `start -> first state` per journey; one `bincount` counts them all.
    """
    conversion, null = n_states + 1, n_states + 2
    n_codes = n_states + 3
    n_steps, n_journeys = state_of_step.shape[0], paths.offsets.shape[0] - 1
    codes = np.empty(n_steps + n_journeys, np.int64)
    step_codes = codes[:n_steps]
    np.multiply(state_of_step, n_codes, out=step_codes)
    step_codes[:-1] += state_of_step[1:]
    lasts = paths.offsets[1:] - 1
    step_codes[lasts] = state_of_step[lasts] * n_codes + np.where(paths.converted, conversion, null)
    codes[n_steps:] = state_of_step[paths.offsets[:-1]]  # from start (state 0)
    counts = np.bincount(codes, minlength=(n_states + 1) * n_codes).astype(np.float64)
    matrix = counts.reshape(n_states + 1, n_codes)
    matrix /= matrix.sum(axis=1, keepdims=True)
    return matrix[:, : n_states + 1], matrix[:, conversion]

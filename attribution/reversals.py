"""Reversals (refunds, chargebacks, cancellations): negative credits, exact and capped.

A reversal names a conversion and an amount in minor units (or `FULL_REVERSAL`: whatever
remains). For every model that credited the conversion, the amount is split over the
conversion's credit rows in proportion to what each row still holds (credited minus already
reversed), by largest remainder (`attribution.money`), and issued as rows with negative
`credited_revenue`. Hence:

- the reversal rows of a (conversion, model) sum exactly to minus the reversed amount;
- the cumulative reversed amount is capped at the conversion's revenue, and no row ever goes
  below zero: reversing twice, or more than the revenue, reverses at most what remains;
- a full reversal leaves every row at exactly zero.

Several reversals of one conversion in one call are added up first. The weight of a reversal
row is minus the original weight times the fraction of the revenue reversed (for a conversion
without revenue, a full reversal reverses the whole weight), so that per-conversion payouts
(e.g. a fixed CPA times the weight) are cancelled in the same proportion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from attribution.columns import F64, I64, Credits
from attribution.errors import InvalidInputError
from attribution.money import split_exact

FULL_REVERSAL: Final = -1


@dataclass(frozen=True, slots=True)
class Reversals:
    conversion_id: I64
    amount: I64  # minor units (> 0), or FULL_REVERSAL

    def __post_init__(self) -> None:
        if self.conversion_id.shape != self.amount.shape:
            raise InvalidInputError("Reversals columns differ in length")
        if bool(((self.amount <= 0) & (self.amount != FULL_REVERSAL)).any()):
            raise InvalidInputError("a reversal amount must be > 0 (or FULL_REVERSAL)")


def reverse(credits: Credits, reversals: Reversals, already: Credits | None = None) -> Credits:
    """Negative credits for `reversals`, given the original `credits` of those conversions and
    the reversal credits issued before (`already`, rows with negative amounts)."""
    hit = np.flatnonzero(np.isin(credits.conversion_id, reversals.conversion_id))
    original = credits.take(hit[np.lexsort((credits.position[hit], credits.model[hit],
                                            credits.conversion_id[hit]))])  # fmt: skip
    if bool((original.credited_revenue < 0).any()):
        raise InvalidInputError("reversals apply to credits with revenue >= 0")
    n = len(original)
    # Amount and weight already reversed, per original row (matched by conversion, model, position).
    done_amount: I64 = np.zeros(n, np.int64)
    done_weight: F64 = np.zeros(n)
    if already is not None and len(already):
        keys = np.stack([original.conversion_id, original.model.astype(np.int64),
                         original.position.astype(np.int64)], axis=1)  # fmt: skip
        prior = np.stack([already.conversion_id, already.model.astype(np.int64),
                          already.position.astype(np.int64)], axis=1)  # fmt: skip
        both, inverse = np.unique(np.concatenate([keys, prior]), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        of_prior = inverse[n:]
        amount_by_key = np.bincount(of_prior, -already.credited_revenue, minlength=len(both))
        weight_by_key = np.bincount(of_prior, -already.weight, minlength=len(both))
        done_amount = amount_by_key[inverse[:n]].astype(np.int64)
        done_weight = weight_by_key[inverse[:n]].astype(np.float64)

    # Groups: one per (conversion, model), rows contiguous.
    new_group = np.ones(n, np.bool_)
    new_group[1:] = (original.conversion_id[1:] != original.conversion_id[:-1]) | (
        original.model[1:] != original.model[:-1]
    )
    group = (np.cumsum(new_group) - 1).astype(np.intp)
    n_groups = int(group[-1]) + 1 if n else 0
    revenue = np.bincount(group, original.credited_revenue, minlength=n_groups).astype(np.int64)
    remaining_row = original.credited_revenue - done_amount
    remaining = np.bincount(group, remaining_row, minlength=n_groups).astype(np.int64)
    weight_left = 1.0 - np.bincount(group, done_weight, minlength=n_groups)

    requested, full = _requested(reversals, original.conversion_id[new_group])
    amount = np.where(full, remaining, np.minimum(requested, remaining))
    share = remaining_row / np.where(remaining > 0, remaining, 1)[group]
    taken = split_exact(amount, group, share)
    taken = np.where((amount == remaining)[group], remaining_row, taken)  # exact when all goes
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(revenue > 0, amount / revenue, np.where(full, weight_left, 0.0))
    fraction = np.minimum(fraction, np.maximum(weight_left, 0.0))
    out = original
    keep = np.flatnonzero(((amount > 0) | (fraction > 0))[group])
    return Credits(
        conversion_id=out.conversion_id[keep],
        touch_id=out.touch_id[keep],
        partner_id=out.partner_id[keep],
        role=out.role[keep],
        model=out.model[keep],
        position=out.position[keep],
        path_length=out.path_length[keep],
        weight=-(out.weight * fraction[group])[keep],
        credited_revenue=-taken[keep],
    )


def _requested(reversals: Reversals, group_conversion: I64) -> tuple[I64, NDArray[np.bool_]]:
    """Per group: the amount requested for its conversion (summed), and whether it is full."""
    ids, inverse = np.unique(reversals.conversion_id, return_inverse=True)
    full_by_id = np.bincount(inverse, reversals.amount == FULL_REVERSAL, minlength=len(ids)) > 0
    amount_by_id = np.bincount(
        inverse, np.where(reversals.amount > 0, reversals.amount, 0), minlength=len(ids)
    ).astype(np.int64)
    at = np.searchsorted(ids, group_conversion)
    return amount_by_id[at], full_by_id[at]

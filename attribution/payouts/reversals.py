"""Reversal payouts: earlier payouts of a reversed conversion, taken back in proportion."""

from __future__ import annotations

import numpy as np

from attribution.columns import I64, Conversions, Credits
from attribution.errors import InvalidInputError
from attribution.payouts.paths import conversion_rows
from attribution.payouts.tables import NO_CAP, PayoutRows, Payouts, empty


def reversal_payouts(
    reversal_credits: Credits, conversions: Conversions, prior: Payouts | None
) -> PayoutRows:
    """Negative rows for every earlier payout of the conversions named by `reversal_credits`.

    Per conversion, `f` is the fraction reversed: `attribution.reversals` gives reversal rows
    the original weights times `-f` (f = reversed revenue / revenue, or the whole for a full
    reversal of a conversion without revenue), so f is minus the sum of the reversal weights
    of one model (the largest over models, at most 1). Earlier payouts
    (`prior`, the rows of earlier batches, reversals included) are grouped by (conversion,
    partner, contract, version, type, role, model, currency); each group gives back
    `round(positive amount * f)` (half up), never more than it still holds, so a conversion's
    payouts never go below zero in total. The rows take the conversion's ts (its cap month).
    """
    if bool((reversal_credits.credited_revenue > 0).any()):
        raise InvalidInputError("reversal credits must not be positive")
    if prior is None or len(prior) == 0 or len(reversal_credits) == 0:
        return empty(PayoutRows)
    # Reversed fraction per (conversion, model): minus the sum of the reversal weights.
    per_model, inverse = np.unique(
        np.column_stack([reversal_credits.conversion_id, reversal_credits.model]),
        axis=0,
        return_inverse=True,
    )
    by_model = np.bincount(inverse.reshape(-1), -reversal_credits.weight, len(per_model))
    reversed_ids, by_conversion = np.unique(per_model[:, 0], return_inverse=True)
    fraction = np.zeros(reversed_ids.shape[0])
    np.maximum.at(fraction, by_conversion.reshape(-1), by_model)
    fraction = np.clip(np.round(fraction, 12), 0.0, 1.0)  # float noise must not move a tie
    conv = conversions.take(conversion_rows(reversed_ids.astype(np.int64), conversions))

    at = np.minimum(np.searchsorted(reversed_ids, prior.conversion_id), reversed_ids.shape[0] - 1)
    hit = np.flatnonzero(reversed_ids[at] == prior.conversion_id)
    key = np.column_stack(
        [
            prior.conversion_id[hit],
            prior.partner_id[hit],
            prior.contract_id[hit],
            prior.contract_version[hit],
            prior.payout_type[hit],
            prior.role[hit],
            prior.model[hit],
            prior.currency[hit],
        ]
    ).astype(np.int64)
    groups, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    positive = np.zeros(groups.shape[0], np.int64)
    held = np.zeros(groups.shape[0], np.int64)
    np.add.at(positive, inverse, np.maximum(prior.amount[hit], 0))
    np.add.at(held, inverse, prior.amount[hit])
    g_conv: I64 = at[hit[first]]
    wanted = np.floor(positive * fraction[g_conv] + 0.5).astype(np.int64)
    back = np.minimum(np.maximum(held, 0), wanted)
    keep = back > 0
    g, n = groups[keep], int(keep.sum())
    return PayoutRows(
        conversion_id=g[:, 0].copy(),
        partner_id=g[:, 1].copy(),
        contract_id=g[:, 2].copy(),
        contract_version=g[:, 3].copy(),
        payout_type=g[:, 4].astype(np.int8),
        amount=-back[keep],
        currency=g[:, 7].copy(),
        role=g[:, 5].astype(np.int8),
        model=g[:, 6].astype(np.int8),
        cap=np.full(n, NO_CAP, np.int64),
        ts_ms=conv.ts_ms[g_conv[keep]],
        position=np.zeros(n, np.int64),
    )

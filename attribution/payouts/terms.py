"""Per-conversion terms: CPA, CPI and revenue share over the path, participation bonus."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64, Conversions, Credits, Model
from attribution.contracts import ContractIndex
from attribution.payouts.paths import (
    CreditPaths,
    caps_of,
    first_of_pairs,
    path_model,
    share_of,
    split_model_of,
    split_weights,
)
from attribution.payouts.tables import (
    PayoutRows,
    PayoutType,
    Unpaid,
    UnpaidReason,
    concat,
    empty,
)
from attribution.population import split_by_weights


def path_payouts(
    credits: Credits, conv: Conversions, crow: I64, contracts: ContractIndex, install_event: int
) -> PayoutRows:
    """CPA, CPI and revenue-share rows of every credited touch under a contract.

    One group per (conversion, contract version) met in the credits; the group's path is every
    credit row of the conversion under the contract's split model (also the rows of partners
    under other contracts, so the division is the same whoever is paid), and a row is paid
    when its own partner resolved to that contract version. `conv` is aligned with `credits`.
    """
    paths = CreditPaths.of(credits)
    has = crow >= 0
    pairs = np.unique(np.column_stack([paths.dense[has], crow[has]]), axis=0)
    g_dense, g_crow = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    offsets, rows = paths.expand(g_dense, path_model(contracts, g_crow))
    lengths = np.diff(offsets)
    group = np.repeat(np.arange(g_dense.shape[0], dtype=np.int64), lengths)
    row_crow = g_crow[group]
    # Conversion facts of each group, read from its first path row (empty paths pay nothing).
    g_event = np.zeros(g_dense.shape[0], np.int64)
    g_revenue = np.zeros(g_dense.shape[0], np.int64)
    first_row = rows[offsets[:-1][lengths > 0]]
    g_event[lengths > 0] = conv.event_name[first_row]
    g_revenue[lengths > 0] = conv.revenue[first_row]

    weights = split_weights(credits, rows, row_crow, contracts)
    model = split_model_of(credits, rows, row_crow, contracts)
    paid_here = crow[rows] == row_crow
    fixed = {
        PayoutType.CPA: contracts.cpa_for(g_crow, g_event),
        PayoutType.CPI: np.where(g_event == install_event, contracts.cpi[g_crow], 0),
    }
    out: list[PayoutRows] = []
    for kind, per_group in fixed.items():
        if bool((per_group != 0).any()):
            amount = split_by_weights(offsets, per_group.astype(np.int64), weights)
            keep = paid_here & (amount != 0)
            out.append(_rows(credits, conv, contracts, rows, row_crow, model, kind, amount, keep))
    ppm = contracts.revshare_ppm[row_crow]
    if bool((ppm > 0).any()):
        by_role = contracts.split_model[row_crow] == Model.ROLE_WEIGHTS
        role_base = split_by_weights(offsets, g_revenue, weights)
        amount = share_of(np.where(by_role, role_base, credits.credited_revenue[rows]), ppm)
        same_currency = conv.currency[rows] == contracts.currency[row_crow]
        keep = paid_here & same_currency & (amount != 0)
        kind = PayoutType.REVSHARE
        out.append(_rows(credits, conv, contracts, rows, row_crow, model, kind, amount, keep))
    return concat(PayoutRows, out)


def _rows(
    credits: Credits,
    conv: Conversions,
    contracts: ContractIndex,
    rows: I64,
    row_crow: I64,
    model: I64,
    kind: PayoutType,
    amount: I64,
    keep: NDArray[np.bool_],
) -> PayoutRows:
    r, c = rows[keep], row_crow[keep]
    return PayoutRows(
        conversion_id=credits.conversion_id[r],
        partner_id=credits.partner_id[r],
        contract_id=contracts.contract_key[c],
        contract_version=contracts.version[c],
        payout_type=np.full(r.shape[0], kind, np.int8),
        amount=amount[keep],
        currency=contracts.currency[c],
        role=credits.role[r],
        model=model[keep].astype(np.int8),
        cap=caps_of(contracts, c),
        ts_ms=conv.ts_ms[r],
        position=credits.position[r].astype(np.int64),
    )


def bonus_payouts(
    credits: Credits, conv: Conversions, crow: I64, contracts: ContractIndex
) -> PayoutRows:
    """One bonus per (conversion, partner) with a touch (any model) in a bonus role."""
    if len(contracts) == 0:
        return empty(PayoutRows)
    safe = np.maximum(crow, 0)
    earns = (crow >= 0) & (contracts.bonus[safe] > 0) & contracts.bonus_roles[safe, credits.role]
    rows = np.flatnonzero(earns)
    order = rows[
        np.lexsort(
            (
                credits.model[rows],
                credits.position[rows],
                credits.partner_id[rows],
                credits.conversion_id[rows],
            )
        )
    ]
    r = order[first_of_pairs(credits.conversion_id[order], credits.partner_id[order])]
    c = crow[r]
    return PayoutRows(
        conversion_id=credits.conversion_id[r],
        partner_id=credits.partner_id[r],
        contract_id=contracts.contract_key[c],
        contract_version=contracts.version[c],
        payout_type=np.full(r.shape[0], PayoutType.BONUS, np.int8),
        amount=contracts.bonus[c],
        currency=contracts.currency[c],
        role=credits.role[r],
        model=contracts.split_model[c],
        cap=caps_of(contracts, c),
        ts_ms=conv.ts_ms[r],
        position=credits.position[r].astype(np.int64),
    )


def unpaid_credits(
    credits: Credits, conv: Conversions, crow: I64, contracts: ContractIndex
) -> list[Unpaid]:
    """Credits that cannot be paid: no contract, split model not computed, other currency."""
    out = [_unpaid(credits, crow, crow < 0, contracts, UnpaidReason.NO_CONTRACT)]
    if len(contracts) == 0:
        return out
    safe = np.maximum(crow, 0)
    has_cpa = np.zeros(len(contracts), dtype=bool)
    has_cpa[contracts.cpa_row[contracts.cpa_amount > 0]] = True
    divides = has_cpa | (contracts.cpi > 0) | (contracts.revshare_ppm > 0)
    paths = CreditPaths.of(credits)
    absent = ~paths.has(paths.dense, path_model(contracts, safe))
    missing = (crow >= 0) & divides[safe] & absent
    out.append(_unpaid(credits, crow, missing, contracts, UnpaidReason.MODEL_NOT_COMPUTED))
    other_currency = (
        (crow >= 0)
        & (contracts.revshare_ppm[safe] > 0)
        & (conv.currency != contracts.currency[safe])
    )
    out.append(_unpaid(credits, crow, other_currency, contracts, UnpaidReason.CURRENCY_MISMATCH))
    return out


def _unpaid(
    credits: Credits,
    crow: I64,
    mask: NDArray[np.bool_],
    contracts: ContractIndex,
    reason: UnpaidReason,
) -> Unpaid:
    rows = np.flatnonzero(mask)
    pairs, first = np.unique(
        np.column_stack([credits.conversion_id[rows], credits.partner_id[rows]]),
        axis=0,
        return_index=True,
    )
    c = crow[rows[first]]
    key = contracts.contract_key[np.maximum(c, 0)] if len(contracts) else np.zeros_like(c)
    return Unpaid(
        conversion_id=pairs[:, 0].astype(np.int64),
        partner_id=pairs[:, 1].astype(np.int64),
        contract_id=np.where(c >= 0, key, 0).astype(np.int64),
        reason=np.full(pairs.shape[0], reason, np.int8),
    )

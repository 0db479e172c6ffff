"""Monthly caps per (contract, partner, calendar month UTC), applied in a fixed order."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I64
from attribution.errors import InvalidInputError
from attribution.payouts.tables import (
    NO_CAP,
    CapLedger,
    PayoutRows,
    Payouts,
    Unpaid,
    UnpaidReason,
    concat,
    take,
)


def months_since_epoch(ts_ms: I64) -> I64:
    """Calendar month (UTC) of epoch-millisecond instants, as months since 1970-01."""
    return ts_ms.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)


def apply_caps(rows: PayoutRows, ledger: CapLedger) -> tuple[Payouts, CapLedger, Unpaid]:
    """Clip rows to the caps on top of `ledger`; return the paid rows and the new ledger.

    Rows of one (contract, partner, month) are applied in the order (conversion ts,
    conversion id, payout type, position, partner). Rows paid 0 are left out of the payouts
    and reported as `CAP_REACHED`; the output is ordered like the application order, across
    all keys. The ledger keeps its other keys and gets the new total of every key seen.
    """
    month = months_since_epoch(rows.ts_ms)
    order = np.lexsort(
        (
            rows.position,
            rows.payout_type,
            rows.conversion_id,
            rows.ts_ms,
            month,
            rows.partner_id,
            rows.contract_id,
        )
    )
    rows, month = take(rows, order), month[order]
    key = np.column_stack([rows.contract_id, rows.partner_id, month])
    new_key = np.ones(len(rows), dtype=bool)
    new_key[1:] = (key[1:] != key[:-1]).any(axis=1)
    starts = np.flatnonzero(new_key)
    group = np.cumsum(new_key) - 1
    g_key = key[starts]
    found = _find_keys(ledger, g_key)
    prior = np.zeros(starts.shape[0], np.int64)
    prior[found >= 0] = ledger.paid[found[found >= 0]]

    paid = clip_running(rows.amount, rows.cap, group, starts, prior)
    totals = prior.copy()
    np.add.at(totals, group, paid)
    untouched = np.ones(len(ledger), dtype=bool)
    untouched[found[found >= 0]] = False
    updated = CapLedger(g_key[:, 0].copy(), g_key[:, 1].copy(), g_key[:, 2].copy(), totals)
    merged = concat(CapLedger, [take(ledger, untouched), updated])
    merged = take(merged, np.lexsort((merged.month, merged.partner_id, merged.contract_id)))

    out = np.lexsort(
        (rows.partner_id, rows.position, rows.payout_type, rows.conversion_id, rows.ts_ms)
    )
    clipped_away = out[(paid[out] == 0) & (rows.amount[out] != 0)]
    out = out[paid[out] != 0]
    payouts = Payouts(
        conversion_id=rows.conversion_id[out],
        partner_id=rows.partner_id[out],
        contract_id=rows.contract_id[out],
        contract_version=rows.contract_version[out],
        payout_type=rows.payout_type[out],
        amount=paid[out],
        currency=rows.currency[out],
        role=rows.role[out],
        model=rows.model[out],
    )
    capped = Unpaid(
        conversion_id=rows.conversion_id[clipped_away],
        partner_id=rows.partner_id[clipped_away],
        contract_id=rows.contract_id[clipped_away],
        reason=np.full(clipped_away.shape[0], UnpaidReason.CAP_REACHED, np.int8),
    )
    return payouts, merged, capped


def _find_keys(ledger: CapLedger, keys: NDArray[np.int64]) -> I64:
    """Row of `ledger` holding each (contract, partner, month) key, or -1."""
    n = len(ledger)
    result = np.full(keys.shape[0], -1, dtype=np.int64)
    if n == 0 or keys.shape[0] == 0:
        return result
    table = np.column_stack([ledger.contract_id, ledger.partner_id, ledger.month])
    _, dense = np.unique(np.concatenate([table, keys]), axis=0, return_inverse=True)
    dense = dense.reshape(-1)
    order = np.argsort(dense[:n], kind="stable")
    if bool((np.diff(dense[:n][order]) == 0).any()):
        raise InvalidInputError("paid_so_far holds the same (contract, partner, month) twice")
    at = np.minimum(np.searchsorted(dense[:n][order], dense[n:]), n - 1)
    hit = dense[:n][order][at] == dense[n:]
    result[hit] = order[at[hit]]
    return result


def clip_running(amount: I64, cap: I64, group: I64, starts: I64, prior: I64) -> I64:
    """Amount actually paid per row; rows sorted by group, then in order of application.

    Per group the total follows x_t = min(cap_t, x_{t-1} + a_t) for a_t > 0 (never below
    x_{t-1}) and x_t = x_{t-1} + a_t otherwise, from x_0 = prior; row t pays x_t - x_{t-1}.
    When a group's positive rows share one cap and prior <= cap, this is
    x_t = S_t + min(prior, min_{s<=t}(cap - S_s)) with S the group's running sum, computed for
    all such groups at once. Other groups (the cap changed with a new contract version inside
    the month, or the total is already above it) are replayed row by row.
    """
    n_groups = int(starts.shape[0])
    if amount.shape[0] == 0:
        return amount.copy()
    positive = amount > 0
    lowest = np.minimum.reduceat(np.where(positive, cap, NO_CAP), starts)
    highest = np.maximum.reduceat(np.where(positive, cap, -1), starts)
    closed = ((lowest == highest) | (highest < 0)) & (prior <= lowest)

    running = np.cumsum(amount)
    running -= (running[starts] - amount[starts])[group]
    headroom = lowest[group] - running
    # Running minimum inside groups: rank the values, lift earlier groups above later ones.
    values, rank = np.unique(headroom, return_inverse=True)
    lift = (n_groups - 1 - group) * values.shape[0]
    run_min = values[np.minimum.accumulate(lift + rank.reshape(-1)) - lift]
    total = running + np.minimum(prior[group], run_min)
    before = np.empty_like(total)
    before[1:] = total[:-1]
    before[starts] = prior
    paid: I64 = (total - before).astype(np.int64)

    ends = np.append(starts[1:], amount.shape[0])
    for g in np.flatnonzero(~closed):
        x = int(prior[g])
        for t in range(int(starts[g]), int(ends[g])):
            a = int(amount[t])
            p = max(0, min(a, int(cap[t]) - x)) if a > 0 else a
            paid[t] = p
            x += p
    return paid

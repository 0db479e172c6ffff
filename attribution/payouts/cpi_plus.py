"""CPI+: a fixed amount once per install when its named event follows within the window."""

from __future__ import annotations

import numpy as np

from attribution.columns import I64, Credits
from attribution.contracts import ContractIndex, lookup_pairs
from attribution.payouts.paths import (
    CreditPaths,
    PartnerTypes,
    caps_of,
    first_of_pairs,
    path_model,
    split_model_of,
    split_weights,
)
from attribution.payouts.tables import (
    CpiPlusLedger,
    PayoutRows,
    PayoutType,
    PostInstallEvents,
    concat,
    empty,
)
from attribution.population import split_by_weights


def cpi_plus_payouts(
    post: PostInstallEvents,
    install_credits: Credits,
    contracts: ContractIndex,
    types: PartnerTypes,
    ledger: CpiPlusLedger,
) -> tuple[PayoutRows, CpiPlusLedger]:
    """CPI+ rows of this batch and the ledger with the (install, contract) pairs they paid.

    The contract of each partner credited for the install is the one in force at the install.
    An event qualifies when its name is the contract's CPI+ event and
    `0 <= ts - install_ts <= window_days`; per (install, contract) the earliest qualifying
    event (ts, then id) pays, unless the ledger says the pair was paid before. The amount is
    divided like CPA over the install's credits of the contract's split model. Events of
    installs without credits (organic installs) pay nothing.
    """
    paths = CreditPaths.of(install_credits)
    n_installs = paths.conversion_ids.shape[0]
    if n_installs == 0 or len(contracts) == 0 or len(post) == 0:
        return empty(PayoutRows), ledger
    at = np.minimum(np.searchsorted(paths.conversion_ids, post.install_id), n_installs - 1)
    events = np.flatnonzero(paths.conversion_ids[at] == post.install_id)

    # Every credit row of each event's install (any model): whose contract pays CPI+ for it?
    offsets, rows = paths.all_rows(at[events])
    pair_event = events[np.repeat(np.arange(events.shape[0]), np.diff(offsets))]
    crow = _resolve(post, install_credits, contracts, types, pair_event, rows)
    safe = np.maximum(crow, 0)
    elapsed = post.ts_ms[pair_event] - post.install_ts_ms[pair_event]
    qualifies = (
        (crow >= 0)
        & (contracts.cpi_plus_amount[safe] > 0)
        & (contracts.cpi_plus_event[safe] == post.event_name[pair_event])
        & (elapsed >= 0)
        & (elapsed <= contracts.cpi_plus_window_ms[safe])
    )
    cand = np.unique(np.column_stack([pair_event[qualifies], crow[qualifies]]), axis=0)
    c_event, c_crow = cand[:, 0].astype(np.int64), cand[:, 1].astype(np.int64)
    c_key, c_install = contracts.contract_key[c_crow], post.install_id[c_event]
    order = np.lexsort((post.conversion_id[c_event], post.ts_ms[c_event], c_key, c_install))
    c_event, c_crow, c_key, c_install = (
        c_event[order],
        c_crow[order],
        c_key[order],
        c_install[order],
    )
    not_paid = lookup_pairs(ledger.install_id, ledger.contract_id, c_install, c_key) < 0
    chosen = first_of_pairs(c_install, c_key) & not_paid
    g_event, g_crow = c_event[chosen], c_crow[chosen]

    offsets, path_rows = paths.expand(at[g_event], path_model(contracts, g_crow))
    group = np.repeat(np.arange(g_event.shape[0], dtype=np.int64), np.diff(offsets))
    row_event, row_crow = g_event[group], g_crow[group]
    weights = split_weights(install_credits, path_rows, row_crow, contracts)
    amount = split_by_weights(offsets, contracts.cpi_plus_amount[g_crow], weights)
    own = _resolve(post, install_credits, contracts, types, row_event, path_rows)
    keep = (own == row_crow) & (amount != 0)
    model = split_model_of(install_credits, path_rows, row_crow, contracts)
    r, c, e = path_rows[keep], row_crow[keep], row_event[keep]
    rows_out = PayoutRows(
        conversion_id=post.conversion_id[e],
        partner_id=install_credits.partner_id[r],
        contract_id=contracts.contract_key[c],
        contract_version=contracts.version[c],
        payout_type=np.full(r.shape[0], PayoutType.CPI_PLUS, np.int8),
        amount=amount[keep],
        currency=contracts.currency[c],
        role=install_credits.role[r],
        model=model[keep].astype(np.int8),
        cap=caps_of(contracts, c),
        ts_ms=post.ts_ms[e],
        position=install_credits.position[r].astype(np.int64),
    )
    paid = CpiPlusLedger(post.install_id[g_event], contracts.contract_key[g_crow])
    return rows_out, concat(CpiPlusLedger, [ledger, paid])


def _resolve(
    post: PostInstallEvents,
    install_credits: Credits,
    contracts: ContractIndex,
    types: PartnerTypes,
    event: I64,
    rows: I64,
) -> I64:
    partner = install_credits.partner_id[rows]
    return contracts.resolve(
        post.advertiser_id[event], partner, types(partner), post.install_ts_ms[event]
    )

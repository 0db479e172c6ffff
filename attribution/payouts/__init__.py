"""Payouts: what each partner is owed for credited conversions under its contract.

`compute_payouts` is pure: credits, conversions, the compiled contracts and the state of
earlier batches go in (caps paid so far, installs already paid CPI+, earlier payouts for
reversals); payout rows and the updated state come out. Money is int64 minor units; every
division is exact (largest remainder, `attribution.money`) or rounded half away from zero, so
the same input always gives the same rows.

The contract of a credit is resolved per (advertiser, partner, partner type, conversion ts) by
`ContractIndex.resolve` (partner contract first, then partner type; the version in force).

- CPA (per event name) and CPI (installs: `event_name == install_event`): a fixed amount per
  conversion, divided across the whole path by the weights of the contract's split model, or
  by its role weights applied to the roles of the `LINEAR` rows (which list every touch);
  each partner keeps the part of its own touches (`terms.path_payouts`).
- Revenue share: `ppm * credited_revenue / 10**6` per credited touch of the split model (for a
  role split: the revenue divided by role weights), half away from zero. The conversion
  currency must be the contract currency, else the rows are unpaid (`CURRENCY_MISMATCH`).
- Participation bonus: once per (conversion, partner) with a touch (any model) in one of the
  bonus roles; the row carries the role of its earliest such touch (`terms.bonus_payouts`).
- CPI+: once per (install, contract), when the named event follows the install within the
  window, the earliest such event paying (`cpi_plus.cpi_plus_payouts`).
- Reversals: earlier payouts of a reversed conversion are taken back in proportion to the
  reversed revenue, never below zero (`reversals.reversal_payouts`).
- Monthly caps per (contract, partner, calendar month UTC of the conversion), applied in the
  order (conversion ts, conversion id, payout type, position, partner) on top of
  `paid_so_far`; never pays beyond the cap (`caps.apply_caps`).

Credits of partners without contract, whose split model was not computed, or in another
currency are listed in `PayoutResult.unpaid` with the reason, as are rows clipped to 0 by a cap.
"""

from __future__ import annotations

from collections.abc import Mapping

from attribution import ids
from attribution.columns import Conversions, Credits
from attribution.contracts import ContractIndex
from attribution.errors import InvalidInputError
from attribution.payouts.caps import apply_caps, months_since_epoch
from attribution.payouts.cpi_plus import cpi_plus_payouts
from attribution.payouts.paths import PartnerTypes, conversion_rows
from attribution.payouts.reversals import reversal_payouts
from attribution.payouts.tables import (
    CapLedger,
    CpiPlusLedger,
    PayoutResult,
    PayoutRows,
    Payouts,
    PayoutType,
    PostInstallEvents,
    Unpaid,
    UnpaidReason,
    concat,
    empty,
)
from attribution.payouts.terms import bonus_payouts, path_payouts, unpaid_credits

__all__ = [
    "CapLedger",
    "CpiPlusLedger",
    "PayoutResult",
    "PayoutType",
    "Payouts",
    "PostInstallEvents",
    "Unpaid",
    "UnpaidReason",
    "compute_payouts",
    "months_since_epoch",
]


def compute_payouts(
    credits: Credits,
    conversions: Conversions,
    contracts: ContractIndex,
    *,
    partner_types: Mapping[int, int] | None = None,
    paid_so_far: CapLedger | None = None,
    reversal_credits: Credits | None = None,
    prior_payouts: Payouts | None = None,
    post_install: PostInstallEvents | None = None,
    install_credits: Credits | None = None,
    cpi_plus_paid: CpiPlusLedger | None = None,
    install_event: int = ids.INSTALL_EVENT,
) -> PayoutResult:
    """Payout rows of one batch (see the module docstring for the rules).

    `credits` are the credits (>= 0) of new conversions, of every model the contracts split
    by; `reversal_credits` are the (<= 0) credits of reversed conversions, and
    `prior_payouts` the payouts already made for them. `conversions` must hold the conversion
    of every credit of both (reversal credits name the original conversion).
    `partner_types` maps partner ids to partner type ids (for partner-type contracts).
    `post_install` events are checked for CPI+ against `install_credits` (default:
    `credits`), the credits of the installs they name.
    """
    if bool((credits.credited_revenue < 0).any()):
        raise InvalidInputError("credits must not be negative: pass reversals separately")
    types = PartnerTypes.of(partner_types or {})
    conv = conversions.take(conversion_rows(credits.conversion_id, conversions))
    crow = contracts.resolve(
        conv.advertiser_id, credits.partner_id, types(credits.partner_id), conv.ts_ms
    )
    parts: list[PayoutRows] = [
        path_payouts(credits, conv, crow, contracts, install_event),
        bonus_payouts(credits, conv, crow, contracts),
    ]
    unpaid = unpaid_credits(credits, conv, crow, contracts)
    ledger = cpi_plus_paid if cpi_plus_paid is not None else empty(CpiPlusLedger)
    if post_install is not None:
        plus, ledger = cpi_plus_payouts(
            post_install,
            install_credits if install_credits is not None else credits,
            contracts,
            types,
            ledger,
        )
        parts.append(plus)
    if reversal_credits is not None:
        parts.append(reversal_payouts(reversal_credits, conversions, prior_payouts))
    payouts, caps, capped = apply_caps(
        concat(PayoutRows, parts), paid_so_far if paid_so_far is not None else empty(CapLedger)
    )
    return PayoutResult(payouts, caps, ledger, concat(Unpaid, [*unpaid, capped]))

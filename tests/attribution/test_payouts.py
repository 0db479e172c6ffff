"""Payout rules over hand-built credits: CPA split, revenue share, bonus, CPI, CPI+, reversals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from attribution.columns import Conversions, Credits, Model, Role
from attribution.contracts import ContractIndex, load_contracts
from attribution.errors import InvalidInputError
from attribution.ids import INSTALL_EVENT, hash_id
from attribution.payouts import (
    CapLedger,
    CpiPlusLedger,
    PayoutResult,
    Payouts,
    PayoutType,
    PostInstallEvents,
    UnpaidReason,
    compute_payouts,
    months_since_epoch,
)
from attribution.payouts.paths import share_of
from attribution.population import split_total
from attribution.reversals import FULL_REVERSAL, Reversals, reverse

DAY = 86_400_000
AFFILIATE = hash_id("affiliate")
P1, P2, P3 = hash_id("p1"), hash_id("p2"), hash_id("p3")
EUR, USD = hash_id("EUR"), hash_id("USD")
PURCHASE = hash_id("purchase")
TYPES = {P1: AFFILIATE, P2: AFFILIATE, P3: AFFILIATE}


def ms(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class Conv:
    conversion_id: int
    ts: str
    partners: tuple[int, ...]
    revenue: int = 10_000
    event: int = PURCHASE
    currency: int = EUR


def build(
    convs: list[Conv], models: tuple[Model, ...] = (Model.LAST_TOUCH, Model.LINEAR)
) -> tuple[Credits, Conversions]:
    """Credits as the engine gives them: roles by position, exact credited revenue."""
    cols: dict[str, list[Any]] = {k: [] for k in Credits.__dataclass_fields__}
    for c in convs:
        n = len(c.partners)
        for model in models:
            if model is Model.LAST_TOUCH:
                weights = [0.0] * (n - 1) + [1.0]
            elif model is Model.FIRST_TOUCH:
                weights = [1.0] + [0.0] * (n - 1)
            else:
                weights = [1.0 / n] * n
            credited = split_total(c.revenue, np.array(weights)).tolist()
            for pos, partner in enumerate(c.partners):
                if weights[pos] == 0 and model is not Model.LINEAR:
                    continue
                role = (
                    Role.SOLE
                    if n == 1
                    else Role.INTRODUCER
                    if pos == 0
                    else Role.CLOSER
                    if pos == n - 1
                    else Role.INFLUENCER
                )
                for key, value in (
                    ("conversion_id", c.conversion_id),
                    ("touch_id", c.conversion_id * 100 + pos),
                    ("partner_id", partner),
                    ("role", role),
                    ("model", model),
                    ("position", pos),
                    ("path_length", n),
                    ("weight", weights[pos]),
                    ("credited_revenue", credited[pos]),
                ):
                    cols[key].append(value)
    dtypes = {
        "role": np.int8,
        "model": np.int8,
        "position": np.int32,
        "path_length": np.int32,
        "weight": np.float64,
    }
    credits = Credits(**{k: np.array(v, dtypes.get(k, np.int64)) for k, v in cols.items()})
    conversions = Conversions(
        conversion_id=np.array([c.conversion_id for c in convs], np.int64),
        identity=np.zeros(len(convs), np.int64),
        ts_ms=np.array([ms(c.ts) for c in convs], np.int64),
        advertiser_id=np.full(len(convs), hash_id("acme"), np.int64),
        event_name=np.array([c.event for c in convs], np.int64),
        order_id=np.zeros(len(convs), np.int64),
        revenue=np.array([c.revenue for c in convs], np.int64),
        currency=np.array([c.currency for c in convs], np.int64),
    )
    return credits, conversions


def contracts(*terms: dict[str, Any], partner: str | None = None) -> ContractIndex:
    """One contract for acme: partner type 'affiliate' unless `partner` is given."""
    scope = {"partner": partner} if partner else {"partner_type": "affiliate"}
    versions = [
        {"version": i + 1, "effective_from": t.pop("effective_from", "2024-01-01"), **t}
        for i, t in enumerate(dict(t) for t in terms)
    ]
    raw = {"id": "deal", "advertiser": "acme", "currency": "EUR", "versions": versions, **scope}
    return load_contracts([raw]).index(hash_id)


def pay(
    convs: list[Conv],
    index: ContractIndex,
    models: tuple[Model, ...] = (Model.LAST_TOUCH, Model.LINEAR),
    **kwargs: Any,
) -> PayoutResult:
    credits, conversions = build(convs, models)
    return compute_payouts(credits, conversions, index, partner_types=TYPES, **kwargs)


def rows(payouts: Payouts) -> list[tuple[int, str, str, int]]:
    """(conversion, partner, type, amount) with readable partner names."""
    names = {P1: "p1", P2: "p2", P3: "p3"}
    return [
        (int(c), names.get(int(p), str(p)), PayoutType(t).name.lower(), int(a))
        for c, p, t, a in zip(
            payouts.conversion_id,
            payouts.partner_id,
            payouts.payout_type,
            payouts.amount,
            strict=True,
        )
    ]


PATH = (P1, P2, P3)
MAY = "2024-05-10T12:00:00"

# (contract terms, expected rows of conversion 1 with path p1 > p2 > p3, revenue 10 000)
TERM_CASES: list[tuple[str, dict[str, Any], list[tuple[int, str, str, int]]]] = [
    ("cpa last touch", {"cpa": {"purchase": 1000}}, [(1, "p3", "cpa", 1000)]),
    ("cpa other event", {"cpa": {"signup": 1000}}, []),
    (
        "cpa linear, largest remainder",
        {"cpa": {"purchase": 1000}, "split": {"model": "linear"}},
        [(1, "p1", "cpa", 334), (1, "p2", "cpa", 333), (1, "p3", "cpa", 333)],
    ),
    (
        "cpa role weights",
        {
            "cpa": {"purchase": 1001},
            "split": {"role_weights": {"introducer": 0.3, "influencer": 0.2, "closer": 0.5}},
        },
        [(1, "p1", "cpa", 300), (1, "p2", "cpa", 200), (1, "p3", "cpa", 501)],
    ),
    ("revshare last touch", {"revshare_pct": "12.5"}, [(1, "p3", "revshare", 1250)]),
    (
        "revshare linear: pct of each credited revenue, half away from zero",
        {"revshare_pct": "12.5", "split": {"model": "linear"}},
        [(1, "p1", "revshare", 417), (1, "p2", "revshare", 417), (1, "p3", "revshare", 417)],
    ),
    (
        "revshare role weights: revenue split by roles first",
        {"revshare_pct": 10, "split": {"role_weights": {"introducer": 1, "closer": 1}}},
        [(1, "p1", "revshare", 500), (1, "p3", "revshare", 500)],
    ),
    (
        "bonus any role",
        {"bonus": {"amount": 50}},
        [(1, "p1", "bonus", 50), (1, "p2", "bonus", 50), (1, "p3", "bonus", 50)],
    ),
    (
        "bonus only introducers",
        {"bonus": {"amount": 50, "roles": ["introducer"]}},
        [(1, "p1", "bonus", 50)],
    ),
    (
        "cpa and bonus",
        {"cpa": {"purchase": 1000}, "bonus": {"amount": 50, "roles": ["closer"]}},
        [(1, "p3", "cpa", 1000), (1, "p3", "bonus", 50)],
    ),
]


@pytest.mark.parametrize(("name", "terms", "expected"), TERM_CASES, ids=[c[0] for c in TERM_CASES])
def test_terms(name: str, terms: dict[str, Any], expected: list[tuple[int, str, str, int]]) -> None:
    result = pay([Conv(1, MAY, PATH)], contracts(terms))
    assert rows(result.payouts) == expected
    assert len(result.unpaid) == 0


def test_payout_columns() -> None:
    index = contracts({"cpa": {"purchase": 1000}, "split": {"role_weights": {"closer": 1}}})
    result = pay([Conv(1, MAY, PATH)], index)
    p = result.payouts
    assert p.contract_id.tolist() == [hash_id("deal")]
    assert p.contract_version.tolist() == [1]
    assert p.currency.tolist() == [EUR]
    assert p.role.tolist() == [Role.CLOSER]
    assert p.model.tolist() == [Model.ROLE_WEIGHTS]


def test_cpa_split_is_exact_over_many_paths() -> None:
    rng = np.random.default_rng(1)
    partners = [P1, P2, P3, hash_id("p4"), hash_id("p5")]
    types = {p: AFFILIATE for p in partners}
    convs = [
        Conv(i, MAY, tuple(rng.choice(partners, int(rng.integers(1, 6))))) for i in range(1, 200)
    ]
    credits, conversions = build(convs)
    index = contracts({"cpa": {"purchase": 997}, "split": {"model": "linear"}})
    result = compute_payouts(credits, conversions, index, partner_types=types)
    per_conversion = np.bincount(
        np.searchsorted(conversions.conversion_id, result.payouts.conversion_id),
        weights=result.payouts.amount,
    )
    assert per_conversion.tolist() == [997] * len(convs)


def test_partner_contract_pays_only_its_partner_and_names_the_others() -> None:
    index = contracts({"cpa": {"purchase": 1000}, "split": {"model": "linear"}}, partner="p1")
    credits, conversions = build([Conv(1, MAY, PATH)])
    result = compute_payouts(credits, conversions, index)  # no partner types: p2, p3 uncovered
    assert rows(result.payouts) == [(1, "p1", "cpa", 334)]
    unpaid = sorted(
        zip(result.unpaid.partner_id.tolist(), result.unpaid.reason.tolist(), strict=True)
    )
    assert unpaid == sorted([(P2, UnpaidReason.NO_CONTRACT), (P3, UnpaidReason.NO_CONTRACT)])


def test_versions_in_force_at_the_conversion() -> None:
    index = contracts(
        {"cpa": {"purchase": 100}},
        {"cpa": {"purchase": 200}, "effective_from": "2024-05-10T12:00:00"},
    )
    result = pay([Conv(1, "2024-05-10T11:59:59", PATH), Conv(2, MAY, PATH)], index)
    assert rows(result.payouts) == [(1, "p3", "cpa", 100), (2, "p3", "cpa", 200)]
    assert result.payouts.contract_version.tolist() == [1, 2]


def test_revshare_in_another_currency_is_unpaid() -> None:
    index = contracts({"cpa": {"purchase": 1000}, "revshare_pct": 10})
    result = pay([Conv(1, MAY, PATH, currency=USD)], index)
    assert rows(result.payouts) == [(1, "p3", "cpa", 1000)]
    reasons = set(result.unpaid.reason.tolist())
    assert reasons == {UnpaidReason.CURRENCY_MISMATCH}


def test_split_model_not_computed_is_unpaid() -> None:
    index = contracts({"cpa": {"purchase": 1000}, "split": {"model": "position_based"}})
    result = pay([Conv(1, MAY, PATH)], index)
    assert len(result.payouts) == 0
    assert set(result.unpaid.reason.tolist()) == {UnpaidReason.MODEL_NOT_COMPUTED}
    assert sorted(result.unpaid.partner_id.tolist()) == sorted([P1, P2, P3])


def test_bonus_once_per_conversion_and_partner() -> None:
    # p1 appears twice in the path and in two models: one bonus, with its earliest role.
    result = pay([Conv(1, MAY, (P1, P2, P1))], contracts({"bonus": {"amount": 50}}))
    assert rows(result.payouts) == [(1, "p1", "bonus", 50), (1, "p2", "bonus", 50)]
    assert result.payouts.role.tolist() == [Role.INTRODUCER, Role.INFLUENCER]


def test_cpi_on_installs() -> None:
    index = contracts({"cpi": 150, "cpa": {"purchase": 1000}})
    result = pay([Conv(1, MAY, (P2,), revenue=0, event=INSTALL_EVENT), Conv(2, MAY, (P3,))], index)
    assert rows(result.payouts) == [(1, "p2", "cpi", 150), (2, "p3", "cpa", 1000)]


@pytest.mark.parametrize(
    ("base", "pct", "expected"),
    [
        (10_000, 125_000, 1250),
        (3, 500_000, 2),  # 1.5 -> 2
        (-3, 500_000, -2),  # symmetric
        (1, 1, 0),
        (500_000, 1, 1),  # 0.5 -> 1
        (9_000_000_000_000_000, 1_000_000, 9_000_000_000_000_000),  # no overflow
    ],
)
def test_share_of_rounds_half_away_from_zero(base: int, pct: int, expected: int) -> None:
    assert share_of(np.array([base], np.int64), np.array([pct], np.int64)).tolist() == [expected]


# ------------------------------------------------------------------------ CPI+

INSTALL_TS = "2024-05-01T00:00:00"
CPI_PLUS = {"cpi_plus": {"event": "purchase", "amount": 300, "window_days": 7}}


def post_install(events: list[tuple[int, int, int, int]]) -> PostInstallEvents:
    """(event id, event name, ts ms, install id) after the install at INSTALL_TS."""
    n = len(events)
    return PostInstallEvents(
        conversion_id=np.array([e[0] for e in events], np.int64),
        advertiser_id=np.full(n, hash_id("acme"), np.int64),
        event_name=np.array([e[1] for e in events], np.int64),
        ts_ms=np.array([e[2] for e in events], np.int64),
        install_id=np.array([e[3] for e in events], np.int64),
        install_ts_ms=np.full(n, ms(INSTALL_TS), np.int64),
    )


@pytest.mark.parametrize(
    ("elapsed_ms", "event", "pays"),
    [
        (0, PURCHASE, True),
        (7 * DAY, PURCHASE, True),  # window edge included
        (7 * DAY + 1, PURCHASE, False),
        (-1, PURCHASE, False),  # before the install
        (DAY, hash_id("signup"), False),
    ],
)
def test_cpi_plus_window(elapsed_ms: int, event: int, pays: bool) -> None:
    credits, conversions = build([Conv(500, INSTALL_TS, (P2,), 0, INSTALL_EVENT)])
    events = post_install([(900, event, ms(INSTALL_TS) + elapsed_ms, 500)])
    result = compute_payouts(
        credits, conversions, contracts(CPI_PLUS), partner_types=TYPES, post_install=events
    )
    assert rows(result.payouts) == ([(900, "p2", "cpi_plus", 300)] if pays else [])
    assert len(result.cpi_plus_paid) == (1 if pays else 0)


def test_cpi_plus_once_per_install_across_batches() -> None:
    credits, conversions = build(
        [
            Conv(500, INSTALL_TS, (P2,), 0, INSTALL_EVENT),
            Conv(501, INSTALL_TS, (P3,), 0, INSTALL_EVENT),
        ]
    )
    t0 = ms(INSTALL_TS)
    events = post_install(
        [
            (902, PURCHASE, t0 + 2 * DAY, 500),
            (901, PURCHASE, t0 + DAY, 500),
            (903, PURCHASE, t0 + DAY, 501),
            (904, PURCHASE, t0 + DAY, 999),
        ]  # 999: organic install
    )
    index = contracts(CPI_PLUS)
    first = compute_payouts(credits, conversions, index, partner_types=TYPES, post_install=events)
    assert rows(first.payouts) == [(901, "p2", "cpi_plus", 300), (903, "p3", "cpi_plus", 300)]
    assert sorted(first.cpi_plus_paid.install_id.tolist()) == [500, 501]
    later = post_install([(905, PURCHASE, t0 + 3 * DAY, 500)])
    second = compute_payouts(
        credits,
        conversions,
        index,
        partner_types=TYPES,
        post_install=later,
        cpi_plus_paid=first.cpi_plus_paid,
    )
    assert [r for r in rows(second.payouts) if r[2] == "cpi_plus"] == []
    assert len(second.cpi_plus_paid) == 2


def test_cpi_plus_uses_the_contract_in_force_at_the_install() -> None:
    index = contracts(
        CPI_PLUS,
        {
            "cpi_plus": {"event": "purchase", "amount": 999, "window_days": 7},
            "effective_from": "2024-05-02",
        },
    )
    credits, conversions = build([Conv(500, INSTALL_TS, (P2,), 0, INSTALL_EVENT)])
    events = post_install([(900, PURCHASE, ms(INSTALL_TS) + 3 * DAY, 500)])
    result = compute_payouts(credits, conversions, index, partner_types=TYPES, post_install=events)
    assert rows(result.payouts) == [(900, "p2", "cpi_plus", 300)]


# -------------------------------------------------------------------- reversals


def reversal_credits(conversion_id: int, amount: int, already: Credits | None = None) -> Credits:
    """What `attribution.reversals.reverse` issues for a refund of `amount` of conversion 1
    (path p1 > p2 > p3, revenue 10 000)."""
    credits, _ = build([Conv(conversion_id, MAY, PATH)])
    refund = Reversals(np.array([conversion_id], np.int64), np.array([amount], np.int64))
    return reverse(credits, refund, already)


def concat_payouts(*parts: Payouts) -> Payouts:
    return Payouts(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Payouts.__dataclass_fields__)
    )


def test_partial_then_full_reversal_never_goes_below_zero() -> None:
    index = contracts({"cpa": {"purchase": 1000}, "revshare_pct": 10, "split": {"model": "linear"}})
    credits, conversions = build([Conv(1, MAY, PATH)])
    no_credits = credits.take(np.zeros(0, np.intp))
    paid = compute_payouts(credits, conversions, index, partner_types=TYPES)
    assert rows(paid.payouts) == [
        (1, "p1", "cpa", 334),
        (1, "p2", "cpa", 333),
        (1, "p3", "cpa", 333),
        (1, "p1", "revshare", 333),
        (1, "p2", "revshare", 333),
        (1, "p3", "revshare", 333),
    ]

    def refund(reversal: Credits, prior: Payouts) -> Payouts:
        return compute_payouts(
            no_credits,
            conversions,
            index,
            partner_types=TYPES,
            reversal_credits=reversal,
            prior_payouts=prior,
        ).payouts

    first = reversal_credits(1, 2500)
    quarter = refund(first, paid.payouts)
    # Reversal rows of one conversion are ordered by type, then partner id.
    assert sorted(rows(quarter)) == [
        (1, "p1", "cpa", -84),  # 334 / 4 = 83.5 -> 84
        (1, "p1", "revshare", -83),
        (1, "p2", "cpa", -83),
        (1, "p2", "revshare", -83),
        (1, "p3", "cpa", -83),
        (1, "p3", "revshare", -83),
    ]
    history = concat_payouts(paid.payouts, quarter)
    # The rest (0.75 of the revenue): 0.75 * 334 = 250.5 asks 251, but only 250 is still paid.
    rest = refund(reversal_credits(1, FULL_REVERSAL, already=first), history)
    assert sorted(rows(rest)) == [
        (1, "p1", "cpa", -250),
        (1, "p1", "revshare", -250),
        (1, "p2", "cpa", -250),
        (1, "p2", "revshare", -250),
        (1, "p3", "cpa", -250),
        (1, "p3", "revshare", -250),
    ]
    history = concat_payouts(history, rest)
    assert int(history.amount.sum()) == 0
    # A refund issued again (without telling `reverse` about the first ones) takes nothing more.
    assert len(refund(reversal_credits(1, FULL_REVERSAL), history)) == 0


def test_reversal_frees_room_under_the_cap_of_the_original_month() -> None:
    index = contracts({"cpa": {"purchase": 1000}, "monthly_cap": 1000})
    credits, conversions = build([Conv(1, MAY, PATH)])
    paid = compute_payouts(credits, conversions, index, partner_types=TYPES)
    may = int(months_since_epoch(np.array([ms(MAY)], np.int64))[0])
    assert paid.paid_so_far.to_mapping() == {(hash_id("deal"), P3, may): 1000}
    half = compute_payouts(
        credits.take(np.zeros(0, np.intp)),
        conversions,
        index,
        partner_types=TYPES,
        reversal_credits=reversal_credits(1, 5000),
        prior_payouts=paid.payouts,
        paid_so_far=paid.paid_so_far,
    )
    assert rows(half.payouts) == [(1, "p3", "cpa", -500)]
    assert half.paid_so_far.to_mapping() == {(hash_id("deal"), P3, may): 500}


def test_negative_credits_must_come_as_reversals() -> None:
    index = contracts({"cpa": {"purchase": 1000}})
    _, conversions = build([Conv(1, MAY, PATH)])
    with pytest.raises(InvalidInputError, match="reversals separately"):
        compute_payouts(reversal_credits(1, 10), conversions, index)


def test_unknown_conversion_is_refused() -> None:
    index = contracts({"cpa": {"purchase": 1000}})
    credits, conversions = build([Conv(1, MAY, PATH)])
    with pytest.raises(InvalidInputError, match="not given"):
        compute_payouts(credits, conversions.take(np.zeros(0, np.intp)), index)


def test_cap_ledger_mapping_round_trip() -> None:
    ledger = CapLedger.from_mapping({(1, 2, 650): 300, (1, 3, 651): 5})
    assert ledger.to_mapping() == {(1, 2, 650): 300, (1, 3, 651): 5}
    assert len(CpiPlusLedger(np.zeros(0, np.int64), np.zeros(0, np.int64))) == 0

"""Contracts: loading with field-named errors, versioning, most specific resolution."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from attribution.columns import Model, Role
from attribution.contracts import (
    MS_PER_DAY,
    ContractError,
    ContractIndex,
    load_contracts,
)
from attribution.ids import hash_id


def ms(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def contract(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "acme-p1",
        "advertiser": "acme",
        "partner": "p1",
        "currency": "EUR",
        "versions": [{"version": 1, "effective_from": "2024-01-01", "cpa": {"purchase": 1500}}],
    }
    base.update(overrides)
    return base


def version(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"version": 1, "effective_from": "2024-01-01"}
    base.update(overrides)
    return base


def test_full_contract_loads() -> None:
    book = load_contracts(
        [
            contract(
                versions=[
                    version(
                        cpa={"purchase": 1500, "signup": 200},
                        revshare_pct="12.5",
                        cpi=150,
                        cpi_plus={"event": "purchase", "amount": 300, "window_days": 7},
                        split={"role_weights": {"introducer": 0.3, "closer": 0.7}},
                        bonus={"amount": 500, "roles": ["introducer"]},
                        monthly_cap=1_000_000,
                    )
                ]
            )
        ]
    )
    (v,) = book.versions
    assert v.cpa == (("purchase", 1500), ("signup", 200))
    assert v.revshare_ppm == 125_000
    assert v.cpi == 150
    assert v.cpi_plus is not None
    assert v.cpi_plus.window_days == 7
    assert v.split.model is Model.ROLE_WEIGHTS
    assert dict(v.split.role_weights) == {Role.INTRODUCER: 0.3, Role.CLOSER: 0.7}
    assert v.bonus is not None
    assert v.bonus.roles == frozenset({Role.INTRODUCER})
    assert v.monthly_cap == 1_000_000
    assert v.effective_from_ms == ms("2024-01-01T00:00:00")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01", ms("2024-03-01T00:00:00")),
        ("2024-03-01T12:30:00Z", ms("2024-03-01T12:30:00")),
        ("2024-03-01T12:30:00+02:00", ms("2024-03-01T10:30:00")),
        (date(2024, 3, 1), ms("2024-03-01T00:00:00")),
        (datetime(2024, 3, 1, 6), ms("2024-03-01T06:00:00")),  # naive: UTC
    ],
)
def test_effective_from_forms(value: object, expected: int) -> None:
    book = load_contracts([contract(versions=[version(effective_from=value)])])
    assert book.versions[0].effective_from_ms == expected


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (contract(id=""), "contracts[0].id"),
        (contract(advertiser=None), "contracts[0].advertiser"),
        (contract(partner_type="affiliate"), "contracts[0].partner"),
        (contract(partner=None), "contracts[0].partner"),
        (contract(currency="eur"), "contracts[0].currency"),
        (contract(versions=[]), "contracts[0].versions"),
        (contract(colour="red"), "contracts[0].colour"),
        (contract(versions=[version(version=0)]), "contracts[0].versions[0].version"),
        (contract(versions=[{"version": 1}]), "contracts[0].versions[0].effective_from"),
        (contract(versions=[version(effective_from="soon")]), "versions[0].effective_from"),
        (contract(versions=[version(cpa={"purchase": 12.5})]), "versions[0].cpa.purchase"),
        (contract(versions=[version(cpa={"purchase": -1})]), "versions[0].cpa.purchase"),
        (contract(versions=[version(cpa={"purchase": True})]), "versions[0].cpa.purchase"),
        (contract(versions=[version(cpa=[1])]), "versions[0].cpa"),
        (contract(versions=[version(revshare_pct="12.34567")]), "versions[0].revshare_pct"),
        (contract(versions=[version(revshare_pct=101)]), "versions[0].revshare_pct"),
        (contract(versions=[version(revshare_pct="lots")]), "versions[0].revshare_pct"),
        (contract(versions=[version(cpi="5")]), "versions[0].cpi"),
        (
            contract(versions=[version(cpi_plus={"event": "purchase", "amount": 1})]),
            "versions[0].cpi_plus.window_days",
        ),
        (
            contract(versions=[version(cpi_plus={"event": "x", "amount": 1, "window_days": 0})]),
            "versions[0].cpi_plus.window_days",
        ),
        (contract(versions=[version(split={"model": "magic"})]), "versions[0].split.model"),
        (contract(versions=[version(split={})]), "versions[0].split"),
        (
            contract(versions=[version(split={"role_weights": {"hero": 1}})]),
            "versions[0].split.role_weights.hero",
        ),
        (
            contract(versions=[version(split={"role_weights": {"closer": -1}})]),
            "versions[0].split.role_weights.closer",
        ),
        (
            contract(versions=[version(split={"role_weights": {"closer": 0}})]),
            "versions[0].split.role_weights",
        ),
        (contract(versions=[version(bonus={"amount": 5, "roles": ["x"]})]), "versions[0].bonus"),
        (contract(versions=[version(bonus={"roles": ["closer"]})]), "bonus.amount"),
        (contract(versions=[version(monthly_cap=-1)]), "versions[0].monthly_cap"),
        (
            contract(versions=[version(), version(effective_from="2023-01-01", version=2)]),
            "contracts[0].versions",
        ),
        (contract(versions=[version(), version()]), "contracts[0].versions"),
    ],
)
def test_bad_fields_are_named(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError) as info:
        load_contracts([raw])
    assert field in info.value.field
    assert info.value.reason == "invalid_contract"
    assert not info.value.retriable


def test_duplicate_ids_and_scopes_are_refused() -> None:
    with pytest.raises(ContractError, match="duplicate"):
        load_contracts([contract(), contract()])
    with pytest.raises(ContractError, match="same scope") as info:
        load_contracts([contract(), contract(id="other")])
    assert info.value.field == "contracts[1]"


def test_not_a_list_is_refused() -> None:
    with pytest.raises(ContractError, match="list"):
        load_contracts({"id": "x"})  # type: ignore[arg-type]


# ------------------------------------------------------------------ resolution


def book() -> ContractIndex:
    return load_contracts(
        [
            contract(
                id="acme-p1",
                versions=[
                    version(version=1, effective_from="2024-01-01", cpa={"purchase": 100}),
                    version(version=2, effective_from="2024-03-01", cpa={"purchase": 200}),
                ],
            ),
            contract(
                id="acme-affiliates",
                partner=None,
                partner_type="affiliate",
                versions=[version(effective_from="2023-06-01", cpa={"purchase": 50})],
            ),
            contract(
                id="acme-p2",
                partner="p2",
                versions=[version(effective_from="2024-06-01", cpa={"purchase": 70})],
            ),
            contract(
                id="other-p1",
                advertiser="other",
                versions=[version(effective_from="2020-01-01", cpa={"purchase": 999})],
            ),
        ]
    ).index(hash_id)


# (advertiser, partner, partner type, ts) -> (contract id, version) or None
RESOLUTION_CASES = [
    (("acme", "p1", "", "2024-02-01T00:00:00"), ("acme-p1", 1)),
    (("acme", "p1", "", "2024-02-29T23:59:59.999"), ("acme-p1", 1)),
    (("acme", "p1", "", "2024-03-01T00:00:00"), ("acme-p1", 2)),  # boundary: new version
    (("acme", "p1", "", "2025-01-01T00:00:00"), ("acme-p1", 2)),
    (("acme", "p1", "", "2023-12-31T23:59:59"), None),  # before any version, no type given
    (("acme", "p1", "affiliate", "2023-12-31T00:00:00"), ("acme-affiliates", 1)),  # falls back
    (("acme", "p1", "affiliate", "2024-02-01T00:00:00"), ("acme-p1", 1)),  # partner wins
    (("acme", "p2", "affiliate", "2024-05-31T00:00:00"), ("acme-affiliates", 1)),
    (("acme", "p2", "affiliate", "2024-06-01T00:00:00"), ("acme-p2", 1)),
    (("acme", "p3", "affiliate", "2023-05-31T00:00:00"), None),  # type contract not yet
    (("acme", "p3", "influencer", "2024-06-01T00:00:00"), None),
    (("other", "p1", "", "2024-02-01T00:00:00"), ("other-p1", 1)),
    (("nobody", "p1", "affiliate", "2024-02-01T00:00:00"), None),
]


def test_resolution_table_at_once() -> None:
    index = book()
    queries = [q for q, _ in RESOLUTION_CASES]
    rows = index.resolve(
        np.array([hash_id(q[0]) for q in queries], np.int64),
        np.array([hash_id(q[1]) for q in queries], np.int64),
        np.array([hash_id(q[2]) for q in queries], np.int64),
        np.array([ms(q[3]) for q in queries], np.int64),
    )
    got = [
        None if r < 0 else (index.versions[r].contract_id, index.versions[r].version)
        for r in rows.tolist()
    ]
    assert got == [expected for _, expected in RESOLUTION_CASES]


def test_resolution_of_many_queries_matches_one_by_one() -> None:
    index = book()
    rng = np.random.default_rng(0)
    n = 2000
    adv = rng.choice([hash_id("acme"), hash_id("other"), hash_id("x")], n).astype(np.int64)
    partner = rng.choice([hash_id("p1"), hash_id("p2"), hash_id("p3")], n).astype(np.int64)
    ptype = rng.choice([hash_id("affiliate"), 0], n).astype(np.int64)
    ts = rng.integers(ms("2023-01-01T00:00:00"), ms("2025-01-01T00:00:00"), n).astype(np.int64)
    together = index.resolve(adv, partner, ptype, ts)
    one_by_one = [
        int(index.resolve(adv[i : i + 1], partner[i : i + 1], ptype[i : i + 1], ts[i : i + 1])[0])
        for i in range(0, n, 37)
    ]
    assert together[::37].tolist() == one_by_one


def test_compiled_terms() -> None:
    index = load_contracts(
        [
            contract(
                versions=[
                    version(
                        cpa={"purchase": 1500, "signup": 200},
                        cpi_plus={"event": "purchase", "amount": 300, "window_days": 7},
                        bonus={"amount": 5, "roles": ["closer", "sole"]},
                        split={"model": "linear"},
                    )
                ]
            )
        ]
    ).index(hash_id)
    rows = np.zeros(3, np.int64)
    events = np.array([hash_id("purchase"), hash_id("signup"), hash_id("refund")], np.int64)
    assert index.cpa_for(rows, events).tolist() == [1500, 200, 0]
    assert index.cpi_plus_window_ms.tolist() == [7 * MS_PER_DAY]
    assert index.split_model.tolist() == [Model.LINEAR]
    assert index.bonus_roles[0, [Role.INTRODUCER, Role.CLOSER, Role.SOLE]].tolist() == [
        False,
        True,
        True,
    ]
    assert index.monthly_cap.tolist() == [-1]
    assert index.currency.tolist() == [hash_id("EUR")]

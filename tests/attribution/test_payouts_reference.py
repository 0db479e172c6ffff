"""The vectorised CPA / revenue share / bonus rules equal a plain per-conversion re-derivation."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.columns import Model
from attribution.contracts import load_contracts
from attribution.ids import hash_id
from attribution.money import split_exact_one
from attribution.payouts import compute_payouts
from tests.attribution.test_payouts import P1, P2, P3, TYPES, Conv, build

P4 = hash_id("p4")
PARTNERS = [P1, P2, P3, P4]
ROLE_NAMES = ["introducer", "influencer", "closer", "sole"]
SPLITS = ["last_touch", "first_touch", "linear", "roles"]

terms = st.fixed_dictionaries(
    {
        "cpa": st.integers(0, 5000),
        "split": st.sampled_from(SPLITS),
        "role_weights": st.lists(st.integers(0, 5), min_size=4, max_size=4),
        "pct": st.sampled_from(["0", "7.5", "12.5", "33.3333"]),
        "bonus": st.integers(0, 60),
        "bonus_roles": st.one_of(st.none(), st.sets(st.sampled_from(ROLE_NAMES), min_size=1)),
    }
)


def version(t: dict[str, Any]) -> dict[str, Any]:
    if t["split"] == "roles" and sum(t["role_weights"]) > 0:
        split: dict[str, Any] = {
            "role_weights": dict(zip(ROLE_NAMES, t["role_weights"], strict=True))
        }
    else:
        split = {"model": "linear" if t["split"] == "roles" else t["split"]}
    out: dict[str, Any] = {
        "version": 1,
        "effective_from": "2024-01-01",
        "cpa": {"purchase": t["cpa"]},
        "revshare_pct": t["pct"],
        "split": split,
    }
    if t["bonus"]:
        out["bonus"] = {"amount": t["bonus"]}
        if t["bonus_roles"]:
            out["bonus"]["roles"] = sorted(t["bonus_roles"])
    return out


def role_of(position: int, length: int) -> str:
    if length == 1:
        return "sole"
    if position == 0:
        return "introducer"
    return "closer" if position == length - 1 else "influencer"


def reference(
    convs: list[Conv], by_contract: dict[str, dict[str, Any]]
) -> Counter[tuple[int, int, str]]:
    """Sum per (conversion, partner, type), one conversion and one contract at a time."""
    out: Counter[tuple[int, int, str]] = Counter()
    for c in convs:
        n = len(c.partners)
        roles = [role_of(i, n) for i in range(n)]
        linear = split_exact_one(c.revenue, [1.0 / n] * n)
        for name, t in by_contract.items():
            mine = [
                i for i, p in enumerate(c.partners) if ("p1deal" if p == P1 else "deal") == name
            ]
            if not mine:
                continue
            by_roles = t["split"] == "roles" and sum(t["role_weights"]) > 0
            if by_roles:
                raw = [
                    float(dict(zip(ROLE_NAMES, t["role_weights"], strict=True))[r]) for r in roles
                ]
                raw = [1.0] * n if sum(raw) == 0 else raw
            elif t["split"] == "last_touch":
                raw = [0.0] * (n - 1) + [1.0]
            elif t["split"] == "first_touch":
                raw = [1.0] + [0.0] * (n - 1)
            else:
                raw = [1.0] * n
            weights = [w / sum(raw) for w in raw]
            cpa = split_exact_one(t["cpa"], weights)
            if by_roles:
                base = split_exact_one(c.revenue, weights)
            elif t["split"] in ("last_touch", "first_touch"):
                base = [c.revenue * int(w) for w in weights]
            else:
                base = linear
            ppm = round(float(t["pct"]) * 10_000)
            for i in mine:
                out[(c.conversion_id, c.partners[i], "cpa")] += cpa[i]
                share = (base[i] * ppm + 500_000) // 1_000_000
                out[(c.conversion_id, c.partners[i], "revshare")] += share
            for partner in {c.partners[i] for i in mine}:
                wanted = t["bonus_roles"] or set(ROLE_NAMES)
                if t["bonus"] and any(
                    c.partners[i] == partner and roles[i] in wanted for i in mine
                ):
                    out[(c.conversion_id, partner, "bonus")] += t["bonus"]
    return +out  # drop zero sums


paths = st.lists(
    st.lists(st.sampled_from(PARTNERS), min_size=1, max_size=5), min_size=1, max_size=12
)


@settings(max_examples=150, deadline=None)
@given(paths, terms, terms, st.lists(st.integers(0, 50_000), min_size=12, max_size=12))
def test_vectorised_rules_equal_the_reference(
    journeys: list[list[int]], deal: dict[str, Any], p1deal: dict[str, Any], revenue: list[int]
) -> None:
    convs = [
        Conv(i + 1, "2024-05-10T12:00:00", tuple(p), revenue[i]) for i, p in enumerate(journeys)
    ]
    credits, conversions = build(convs, (Model.LAST_TOUCH, Model.FIRST_TOUCH, Model.LINEAR))
    index = load_contracts(
        [
            {
                "id": "deal",
                "advertiser": "acme",
                "partner_type": "affiliate",
                "currency": "EUR",
                "versions": [version(deal)],
            },
            {
                "id": "p1deal",
                "advertiser": "acme",
                "partner": "p1",
                "currency": "EUR",
                "versions": [version(p1deal)],
            },
        ]
    ).index(hash_id)
    types = {**TYPES, P4: hash_id("affiliate")}
    result = compute_payouts(credits, conversions, index, partner_types=types)
    got: Counter[tuple[int, int, str]] = Counter()
    names = {1: "cpa", 2: "revshare", 5: "bonus"}
    for c, p, t, a in zip(
        result.payouts.conversion_id.tolist(),
        result.payouts.partner_id.tolist(),
        result.payouts.payout_type.tolist(),
        result.payouts.amount.tolist(),
        strict=True,
    ):
        got[(c, p, names[t])] += a
    assert +got == reference(convs, {"deal": deal, "p1deal": p1deal})
    assert len(result.unpaid) == 0
    assert bool((result.payouts.amount > 0).all())

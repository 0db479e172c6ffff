"""Monthly caps: clipping order, months, carried totals, and the vectorised recursion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.ids import hash_id
from attribution.payouts import CapLedger, UnpaidReason, compute_payouts, months_since_epoch
from attribution.payouts.caps import clip_running
from attribution.payouts.tables import NO_CAP
from tests.attribution.test_payouts import P3, PATH, TYPES, Conv, build, contracts, ms, rows

DEAL = hash_id("deal")


def month_of(text: str) -> int:
    return int(months_since_epoch(np.array([ms(text)], np.int64))[0])


MAY, JUNE = month_of("2024-05-01T00:00:00"), month_of("2024-06-01T00:00:00")

CONVS = [
    Conv(4, "2024-05-03T00:00:00", PATH),
    Conv(2, "2024-05-02T00:00:00", PATH),
    Conv(3, "2024-05-02T00:00:00", PATH),  # same ts as 2: conversion id decides
    Conv(1, "2024-05-31T23:59:59.999", PATH),
    Conv(5, "2024-06-01T00:00:00", PATH),  # new month, fresh cap
]


@pytest.mark.parametrize(
    ("paid_before", "expected", "totals"),
    [
        (
            {},
            [
                (2, "p3", "cpa", 1000),
                (3, "p3", "cpa", 1000),
                (4, "p3", "cpa", 500),
                (5, "p3", "cpa", 1000),
            ],
            {MAY: 2500, JUNE: 1000},
        ),
        (
            {(DEAL, P3, MAY): 2000},
            [(2, "p3", "cpa", 500), (5, "p3", "cpa", 1000)],
            {MAY: 2500, JUNE: 1000},
        ),
        (
            {(DEAL, P3, MAY): 2500, (DEAL, P3, JUNE): 2400},
            [(5, "p3", "cpa", 100)],
            {MAY: 2500, JUNE: 2500},
        ),
    ],
)
def test_cap_per_calendar_month(
    paid_before: dict[tuple[int, int, int], int],
    expected: list[tuple[int, str, str, int]],
    totals: dict[int, int],
) -> None:
    credits, conversions = build(CONVS)
    index = contracts({"cpa": {"purchase": 1000}, "monthly_cap": 2500})
    result = compute_payouts(
        credits,
        conversions,
        index,
        partner_types=TYPES,
        paid_so_far=CapLedger.from_mapping(paid_before),
    )
    assert rows(result.payouts) == expected
    assert result.paid_so_far.to_mapping() == {(DEAL, P3, m): v for m, v in totals.items()}
    capped = result.unpaid.reason == UnpaidReason.CAP_REACHED
    assert int(capped.sum()) == 5 - len(expected)


def test_other_keys_of_the_ledger_are_kept() -> None:
    credits, conversions = build(CONVS[:1])
    index = contracts({"cpa": {"purchase": 1000}, "monthly_cap": 2500})
    kept = {(DEAL, P3, MAY - 1): 77, (123, 456, MAY): 5}
    result = compute_payouts(
        credits, conversions, index, partner_types=TYPES, paid_so_far=CapLedger.from_mapping(kept)
    )
    assert result.paid_so_far.to_mapping() == {**kept, (DEAL, P3, MAY): 1000}


def test_cap_lowered_by_a_new_version_inside_the_month() -> None:
    index = contracts(
        {"cpa": {"purchase": 1000}, "monthly_cap": 5000},
        {"cpa": {"purchase": 1000}, "monthly_cap": 1500, "effective_from": "2024-05-03"},
    )
    credits, conversions = build(CONVS)
    result = compute_payouts(credits, conversions, index, partner_types=TYPES)
    # 2 and 3 pay in full under the first version (2000); 4 and 1 meet the new cap of 1500.
    assert rows(result.payouts) == [
        (2, "p3", "cpa", 1000),
        (3, "p3", "cpa", 1000),
        (5, "p3", "cpa", 1000),
    ]
    assert result.paid_so_far.to_mapping()[(DEAL, P3, MAY)] == 2000


def test_months_since_epoch() -> None:
    ts = np.array(
        [
            0,
            ms("1970-01-31T23:59:59.999"),
            ms("1970-02-01T00:00:00"),
            ms("2024-02-29T12:00:00"),
            -1,
        ],
        np.int64,
    )
    assert months_since_epoch(ts).tolist() == [0, 0, 1, 649, -1]


# ---------------------------------------------------------- the clipping recursion


def sequential(amount: list[int], cap: list[int], groups: list[int], prior: list[int]) -> list[int]:
    paid = []
    total = dict(enumerate(prior))
    for a, c, g in zip(amount, cap, groups, strict=True):
        x = total[g]
        p = max(0, min(a, c - x)) if a > 0 else a
        paid.append(p)
        total[g] = x + p
    return paid


group_rows = st.lists(
    st.tuples(
        st.integers(0, 3),  # group
        st.integers(-300, 1000),  # amount
        st.sampled_from([500, 1000, 2500, NO_CAP]),  # cap
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(group_rows, st.lists(st.integers(0, 3000), min_size=4, max_size=4), st.booleans())
def test_clip_running_matches_the_row_by_row_definition(
    raw: list[tuple[int, int, int]], prior: list[int], one_cap_per_group: bool
) -> None:
    raw = sorted(raw, key=lambda r: r[0])  # rows grouped, order inside kept
    groups = [g for g, _, _ in raw]
    amount = [a for _, a, _ in raw]
    cap = [[2500, 1000, NO_CAP, 700][g] if one_cap_per_group else c for g, _, c in raw]
    present = sorted(set(groups))
    dense = [present.index(g) for g in groups]
    starts = np.array([dense.index(i) for i in range(len(present))], np.int64)
    got = clip_running(
        np.array(amount, np.int64),
        np.array(cap, np.int64),
        np.array(dense, np.int64),
        starts,
        np.array([prior[g] for g in present], np.int64),
    )
    assert got.tolist() == sequential(amount, cap, dense, [prior[g] for g in present])

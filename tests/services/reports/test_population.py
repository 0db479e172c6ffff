"""From the distinct paths ClickHouse counts to Markov / Shapley credit, and the shaping of
small aggregates (overlap matrix, CTIT histogram) done in Python, on canned rows."""

from __future__ import annotations

from datetime import date

import numpy as np

from attribution.shapley import shapley_attribution
from services.reports.params import ReportParams
from services.reports.population import PathTable, population_credit
from services.reports.reports import Scope, overlap, quality
from services.reports.store import MemoryReportStore

SCOPE = Scope("acme-shop", ReportParams(date(2026, 3, 1), date(2026, 4, 1)), lookback_days=31)


def test_paths_are_repeated_by_their_count_and_values_spread_exactly() -> None:
    table = PathTable.from_rows([(["a", "b"], 1, 3, 10), (["b"], 0, 2, 0)])
    assert table.names == ("a", "b")
    paths, scaled = table.expanded()
    assert not scaled
    assert paths.offsets.tolist() == [0, 2, 4, 6, 7, 8]
    assert paths.partner_ids.tolist() == [0, 1, 0, 1, 0, 1, 1, 1]
    assert paths.converted.tolist() == [True, True, True, False, False]
    assert paths.value.tolist() == [4, 3, 3, 0, 0]  # 10 over three journeys, exactly


def test_a_large_population_is_scaled_down_keeping_every_path() -> None:
    table = PathTable.from_rows([(["a"], 1, 9_000, 90_000), (["b"], 0, 10, 0)])
    paths, scaled = table.expanded(max_journeys=100)
    assert scaled
    # round(9000 * 100 / 9010) = 100 copies of "a"; "b" rounds to 0 but is kept once.
    assert len(paths) == 101
    assert int((paths.partner_ids == 0).sum()) == 100
    assert int((paths.partner_ids == 1).sum()) == 1
    assert int(paths.value.sum()) == 90_000


def test_markov_and_shapley_credit_sum_to_the_converting_value() -> None:
    """Journeys: [a] converting twice (200), [a, b] converting (100), [b] not converting."""
    table = PathTable.from_rows([(["a"], 1, 2, 200), (["a", "b"], 1, 1, 100), (["b"], 0, 1, 0)])
    credit = population_credit(table)
    assert credit.markov is not None
    assert sum(credit.markov.values()) == 300
    assert sum(credit.shapley.values()) == 300
    assert credit.shapley == {"a": 250, "b": 50}  # 200 + 100 / 2, and 100 / 2
    # Transitions: start->a 3, start->b 1; a->conv 2, a->b 1; b->conv 1, b->null 1.
    # x_b = 1/2, x_a = 2/3 + 1/3 * 1/2 = 5/6, P = 3/4 * 5/6 + 1/4 * 1/2 = 3/4.
    # Without a: 1/4 * 1/2 = 1/8 -> effect 5/6; without b: 3/4 * 2/3 = 1/2 -> effect 1/3.
    share_a = (5 / 6) / (5 / 6 + 1 / 3)
    assert abs(credit.markov["a"] - 300 * share_a) < 1
    assert credit.conversion_probability is not None
    assert np.isclose(credit.conversion_probability, 0.75)
    assert (credit.journeys, credit.converting_journeys, credit.distinct_paths) == (4, 3, 3)


def test_nothing_converting_credits_nothing() -> None:
    credit = population_credit(PathTable.from_rows([(["a", "b"], 0, 5, 0)]))
    assert credit.markov == {"a": 0, "b": 0}
    assert credit.shapley == {"a": 0, "b": 0}
    empty = population_credit(PathTable.from_rows([]))
    assert (empty.markov, empty.shapley, empty.journeys) == ({}, {}, 0)


def test_shapley_on_distinct_paths_equals_shapley_on_every_journey() -> None:
    """The value characteristic is additive: counting a path once with its summed value
    gives the same credit as repeating it."""
    table = PathTable.from_rows(
        [(["a", "b", "c"], 1, 3, 900), (["b"], 1, 2, 301), (["c", "a"], 1, 1, 50), (["a"], 0, 4, 0)]
    )
    repeated, _ = table.expanded()
    assert len(repeated) == 10
    once = shapley_attribution(table.distinct())
    every = shapley_attribution(repeated)
    assert once.credited_value.tolist() == every.credited_value.tolist()


def test_overlap_matrix_from_pairs() -> None:
    store = MemoryReportStore(
        {
            "overlap": [
                ("a", "a", 4, 4, 1.0),
                ("a", "b", 4, 1, 0.25),
                ("b", "a", 2, 1, 0.5),
                ("b", "b", 2, 2, 1.0),
                ("c", "c", 1, 1, 1.0),
            ]
        }
    )
    report = overlap(store, SCOPE)
    assert report.extras["partners"] == ["a", "b", "c"]
    assert report.extras["matrix"] == [[None, 0.25, 0.0], [0.5, None, 0.0], [0.0, 0.0, None]]
    assert report.rows == [["a", "b", 4, 1, 0.25], ["b", "a", 2, 1, 0.5]]
    assert store.calls[0][1]["advertiser_id"] == "acme-shop"


def test_quality_histogram_has_one_count_per_bucket() -> None:
    store = MemoryReportStore(
        {
            "quality": [("p", 10, 0.1, 0.0, 1.0, 2.0, 3.0, 4, 3.0, 1.0, 0.25, "click_flooding")],
            "ctit_histogram": [("p", 0, 3), ("p", 7, 1)],
            "rejected": [("invalid_event", 2)],
            "flagged_installs": [
                ("i-2", "2026-03-02T10:00:00Z", "p", "click_flooding,other_reason"),
                ("i-1", "2026-03-01T10:00:00Z", "p", ""),
            ],
        }
    )
    report = quality(store, SCOPE)
    assert report.extras["ctit_histogram"]["partners"] == {"p": [3, 0, 0, 0, 0, 0, 0, 1]}
    assert report.extras["rejected"] == [{"reason": "invalid_event", "count": 2}]
    assert report.extras["flagged_installs"] == [
        {"install_id": "i-2", "installed_at": "2026-03-02T10:00:00Z", "partner_id": "p",
         "reasons": ["click_flooding", "other_reason"]},
        {"install_id": "i-1", "installed_at": "2026-03-01T10:00:00Z", "partner_id": "p",
         "reasons": []},
    ]  # fmt: skip
    assert report.rows[0][-4:] == [3.0, 1.0, 0.25, "click_flooding"]
    assert {name for name, _ in store.calls} == {
        "ctit_histogram", "rejected", "flagged_installs", "quality",
    }  # fmt: skip

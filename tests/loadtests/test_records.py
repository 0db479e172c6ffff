from __future__ import annotations

import math

import pytest

from loadtests.records import Result, Section, Target, fmt, ratios


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (0.8123, "0.812"), (1.5, "1.50"), (12.34, "12.3"), (512.4, "512"),
     (1234, "1,230"), (1_234_567, "1,230,000"), (-2500, "-2,500"), (math.nan, "n/a")],
)  # fmt: skip
def test_three_significant_digits(value: float, text: str) -> None:
    assert fmt(value) == text


def test_the_median_and_spread_of_the_rounds() -> None:
    result = Result("x", "requests/s", (3.0, 1.0, 2.0, 10.0))
    assert (result.median, result.low, result.high) == (2.5, 1.0, 10.0)
    assert result.verdict == ""  # no target, no verdict


@pytest.mark.parametrize(
    ("target", "values", "verdict"),
    [
        (Target(">=", 0.8, "x"), (0.9, 0.7, 0.85), "met"),
        (Target(">=", 0.8, "x"), (0.5, 0.7, 0.9), "MISSED (0.7x vs target >= 0.8x)"),
        (Target("<=", 1000.0, "ms"), (950.0,), "met"),
        (Target("<=", 1000.0, "ms"), (1500.0,), "MISSED (1,500 ms vs target <= 1,000 ms)"),
        (Target(">=", 1e5, "events/s"), (), "not measured"),
    ],
)
def test_the_verdict_is_taken_on_the_median(
    target: Target, values: tuple[float, ...], verdict: str
) -> None:
    unit = target.unit
    assert Result("x", "m", values, unit, target).verdict == verdict


def test_a_section_lists_its_missed_targets() -> None:
    section = Section("B1", "HTTP")
    met = section.add(Result("a", "r", (1.0,), "x", Target(">=", 0.5, "x")))
    missed = section.add(Result("b", "r", (0.1,), "x", Target(">=", 0.5, "x")))
    section.add(Result("c", "r", (0.1,), "x"))
    assert section.missed == [missed]
    assert met.verdict == "met"


def test_ratios_are_taken_round_by_round() -> None:
    assert ratios([10.0, 20.0, 30.0], [5.0, 10.0, 0.0]) == (2.0, 2.0)
    with pytest.raises(ValueError, match="argument"):
        ratios([1.0], [1.0, 2.0])


def test_a_target_describes_itself_with_its_source() -> None:
    assert Target(">=", 2e6, "touches/s", "issue 5").describe() == (
        ">= 2,000,000 touches/s (issue 5)"
    )
    assert Target(">=", 0.3, "x").describe() == ">= 0.3x"

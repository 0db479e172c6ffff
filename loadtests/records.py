"""What a benchmark returns: results with their rounds, command, target and verdict.

A `Result` holds one figure measured in several rounds (the report shows the median and
the min-max). A target is a comparison (`Target(">=", 0.8, "x")`); the verdict is taken on
the median: "met", or "MISSED (0.62x vs target >= 0.8x)". A `Section` groups the results of
one benchmark with the commands that reproduce them and notes (skips, caveats).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Op = Literal[">=", "<="]


@dataclass(frozen=True, slots=True)
class Target:
    op: Op
    value: float
    unit: str = ""
    source: str = ""  # the issue it comes from, e.g. "issue 3"

    def met_by(self, value: float) -> bool:
        return value >= self.value if self.op == ">=" else value <= self.value

    def describe(self) -> str:
        text = f"{self.op} {fmt(self.value)}{_unit(self.unit)}"
        return f"{text} ({self.source})" if self.source else text


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    metric: str  # what is measured, e.g. "requests/s"
    values: tuple[float, ...]  # one per round
    unit: str = ""
    target: Target | None = None
    detail: str = ""  # e.g. "vs trivial FastAPI 204, same run"

    @property
    def median(self) -> float:
        return float(statistics.median(self.values)) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if not self.values:
            return "not measured"
        if self.target.met_by(self.median):
            return "met"
        return (
            f"MISSED ({fmt(self.median)}{_unit(self.unit)} vs target "
            f"{self.target.op} {fmt(self.target.value)}{_unit(self.target.unit or self.unit)})"
        )


@dataclass(slots=True)
class Section:
    key: str  # "B1" ... "B6", "Memory"
    title: str
    results: list[Result] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""  # why the whole section did not run

    def add(self, result: Result) -> Result:
        self.results.append(result)
        return self.results[-1]

    @property
    def missed(self) -> list[Result]:
        return [r for r in self.results if r.verdict.startswith("MISSED")]


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> tuple[float, ...]:
    """Round-by-round ratios (each round's two figures were measured side by side)."""
    return tuple(a / b for a, b in zip(numerators, denominators, strict=True) if b)


def fmt(value: float) -> str:
    """Three significant digits, thousands separated: 1234567 -> "1,230,000"; 0.8123 -> "0.812"."""
    if value != value:  # NaN
        return "n/a"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        digits = len(str(int(magnitude)))
        return f"{round(value, 3 - digits):,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _unit(unit: str) -> str:
    if not unit:
        return ""
    return unit if unit in ("x", "%") else f" {unit}"

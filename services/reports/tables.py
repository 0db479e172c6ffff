"""A report's result as columns and rows, and its JSON and CSV renderings.

JSON: `{"report", "from", "to", "columns", "rows": [[...]], ...extras}`; CSV: a header row
with the same columns, then the same rows (None as an empty cell, floats in their shortest
round-trip form), so a CSV parses back to the JSON values.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.reports.params import ReportParams

Cell = str | int | float | bool | None


def cell(value: Any) -> Cell:
    """A JSON-safe scalar (NaN and infinities become None)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    columns: tuple[str, ...]
    rows: list[list[Cell]]
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        name: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        extras: dict[str, Any] | None = None,
    ) -> Report:
        cleaned = [[cell(v) for v in row] for row in rows]
        if any(len(row) != len(columns) for row in cleaned):
            raise ValueError(f"report {name}: a row does not have {len(columns)} values")
        return cls(name, tuple(columns), cleaned, extras or {})

    def body(self, params: ReportParams) -> dict[str, Any]:
        return {
            "report": self.name,
            "from": params.date_from.isoformat(),
            "to": params.date_to.isoformat(),
            "columns": list(self.columns),
            "rows": self.rows,
            **self.extras,
        }

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows([csv_cell(v) for v in row] for row in self.rows)
        return out.getvalue()


def csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)

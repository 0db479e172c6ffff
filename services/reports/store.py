"""Where the reports read from: ClickHouse, or canned rows in tests.

`ReportStore.run(query, parameters)` returns the rows of one named query
(`services.reports.queries`); it binds only the placeholders the query uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client

from services.reports.errors import ReportStoreUnavailable
from services.reports.queries import ReportQuery

Row = tuple[Any, ...]


class ReportStore(Protocol):
    def run(self, query: ReportQuery, parameters: Mapping[str, Any]) -> list[Row]:
        """Rows of `query` (in its `columns` order); ReportStoreUnavailable when it fails."""
        ...


def bound(query: ReportQuery, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the query's placeholders; a missing one is a programming error."""
    names = query.parameters()
    missing = [n for n in names if n not in parameters]
    if missing:
        raise ValueError(f"query {query.name} needs parameters {missing}")
    return {n: parameters[n] for n in names}


class ClickHouseReportStore:
    def __init__(self, client: Client) -> None:
        self.client = client

    def run(self, query: ReportQuery, parameters: Mapping[str, Any]) -> list[Row]:
        values = bound(query, parameters)
        try:
            result = self.client.query(query.sql, parameters=values)
        except Exception as exc:  # the driver raises many unrelated types
            raise ReportStoreUnavailable(f"query {query.name} failed: {exc}") from exc
        return [tuple(row) for row in result.result_rows]


class MemoryReportStore:
    """Canned rows per query name (tests of what Python does with the aggregates).

    `calls` records (query name, bound parameters) in order.
    """

    def __init__(self, rows: Mapping[str, list[Row]]) -> None:
        self.rows = dict(rows)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def run(self, query: ReportQuery, parameters: Mapping[str, Any]) -> list[Row]:
        self.calls.append((query.name, bound(query, parameters)))
        return list(self.rows.get(query.name, []))

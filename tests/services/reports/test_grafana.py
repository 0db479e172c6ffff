"""The Grafana dashboard is generated from the reports' SQL and runs it unchanged."""

from __future__ import annotations

import re

import pytest
import yaml
from clickhouse_connect.driver.client import Client

from services.reports.grafana import DASHBOARD_PATH, dashboard, grafana_sql, render
from services.reports.queries import REPORT_QUERIES, ReportQuery
from services.reports.store import ClickHouseReportStore
from tests.services.reports.dataset import ACME, ROCKET

REPO = DASHBOARD_PATH.parents[3]
VALUES = {
    "advertiser_id": ACME, "model": "linear", "granularity": "week", "group_by": "partner",
    "partner_id": "", "partner_type": "", "campaign_id": "", "lookback_days": 31,
    "history_days": 365, "date_from": "2026-03-01", "date_to": "2026-04-01",
}  # fmt: skip
MOBILE_ONLY = ("ctit_histogram", "flagged_installs")  # acme has no installs


def test_committed_dashboard_matches_the_queries() -> None:
    """Fails when deploy/grafana/dashboards/partnerstream.json drifts from
    services/reports/queries.py: run `python -m services.reports.grafana`."""
    assert DASHBOARD_PATH.read_text(encoding="utf-8") == render(dashboard()), (
        "deploy/grafana/dashboards/partnerstream.json is stale: "
        "run `python -m services.reports.grafana`"
    )


def test_every_report_query_is_a_panel_and_no_placeholder_is_left() -> None:
    panels = dashboard()["panels"]
    assert [p["title"] for p in panels] == [q.title for q in REPORT_QUERIES]
    names = {v["name"] for v in dashboard()["templating"]["list"]}
    for p in panels:
        sql = p["targets"][0]["rawSql"]
        assert not re.search(r"(?<!\$)\{\w+:\w+", sql), p["title"]
        assert set(re.findall(r"\$\{(\w+)", sql)) <= names, p["title"]
        assert p["datasource"]["uid"] == "partnerstream-clickhouse"


def values_for(query: ReportQuery) -> dict[str, object]:
    """VALUES, for the mobile advertiser where only it has rows (installs)."""
    return {**VALUES, "advertiser_id": ROCKET} if query.name in MOBILE_ONLY else VALUES


def as_grafana_would_run_it(query: ReportQuery) -> str:
    """Grafana's interpolation of the panel SQL for the March 2026 range and VALUES."""
    values = values_for(query)
    sql = grafana_sql(query)
    sql = sql.replace("$__fromTime", "toDateTime('2026-03-01 00:00:00', 'UTC')")
    sql = sql.replace("$__toTime", "toDateTime('2026-03-31 23:59:59', 'UTC')")
    sql = re.sub(r"\$\{(\w+):sqlstring\}", lambda m: "'" + str(values[m[1]]) + "'", sql)
    return re.sub(r"\$\{(\w+)\}", lambda m: str(values[m[1]]), sql)


@pytest.mark.parametrize("query", REPORT_QUERIES, ids=lambda q: q.name)
def test_panel_sql_gives_the_api_numbers(report_client: Client, query: ReportQuery) -> None:
    through_api = ClickHouseReportStore(report_client).run(query, values_for(query))
    through_grafana = [
        tuple(r) for r in report_client.query(as_grafana_would_run_it(query)).result_rows
    ]
    assert through_grafana == through_api
    assert through_api, query.name


def test_provisioning_files_point_at_the_dashboard_and_the_datasource() -> None:
    grafana = REPO / "deploy" / "grafana" / "provisioning"
    source = yaml.safe_load((grafana / "datasources" / "clickhouse.yaml").read_text())
    (ds,) = source["datasources"]
    assert ds["uid"] == dashboard()["panels"][0]["datasource"]["uid"]
    assert ds["type"] == "grafana-clickhouse-datasource"
    assert ds["jsonData"]["host"] == "${CLICKHOUSE_HOST}"
    provider = yaml.safe_load((grafana / "dashboards" / "partnerstream.yaml").read_text())
    assert provider["providers"][0]["options"]["path"].endswith("/partnerstream")

"""Read keys, scoping and parameter errors of the reports API."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from services.reports.errors import InvalidParameter
from services.reports.params import ReportParams, parse_params
from tests.services.reports.dataset import ACME_KEY

TODAY = date(2026, 3, 31)


@pytest.mark.parametrize(
    ("path", "headers", "params", "reason"),
    [
        ("/v1/reports/performance", {}, {}, "read_key_missing"),
        ("/v1/reports/quality", {"authorization": "Bearer nope-not-a-key-at-all"}, {},
         "read_key_unknown"),
        ("/v1/reports/overlap", {}, {"key": "dev-acme-write-key"}, "read_key_unknown"),
        ("/v1/reports/role-mix", {"authorization": "Basic dev-acme-read-key"}, {},
         "read_key_missing"),
        ("/v1/conversions/acme-conv-O1/explain", {}, {}, "read_key_missing"),
    ],
)  # fmt: skip
def test_missing_or_unknown_read_key_is_401(
    api: TestClient, path: str, headers: dict[str, str], params: dict[str, str], reason: str
) -> None:
    response = api.get(path, headers=headers, params=params)
    assert response.status_code == 401
    assert response.json()["error"] == reason
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_key_in_the_query_string_works(api: TestClient) -> None:
    response = api.get("/v1/reports/path-length", params={"key": ACME_KEY})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"from": "2026-13-01"}, "invalid_date"),
        ({"to": "yesterday"}, "invalid_date"),
        ({"from": "2026-3-1"}, "invalid_date"),
        ({"from": "2026-03-10", "to": "2026-03-10"}, "invalid_range"),
        ({"from": "2026-04-01", "to": "2026-03-01"}, "invalid_range"),
        ({"from": "2020-01-01", "to": "2026-03-01"}, "invalid_range"),
        ({"model": "markov"}, "invalid_model"),
        ({"granularity": "year"}, "invalid_granularity"),
        ({"group_by": "country"}, "invalid_group_by"),
        ({"format": "xml"}, "invalid_format"),
        ({"partner_id": "x" * 129}, "invalid_filter"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(
    api: TestClient, params: dict[str, str], reason: str
) -> None:
    response = api.get(
        "/v1/reports/performance", params=params, headers={"authorization": f"Bearer {ACME_KEY}"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == reason
    assert body["detail"]


def test_explain_is_json_only(api: TestClient) -> None:
    response = api.get(
        "/v1/conversions/acme-conv-O1/explain", params={"format": "csv", "key": ACME_KEY}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_format"


def test_parse_defaults_and_values() -> None:
    assert parse_params({}, TODAY) == ReportParams(date(2026, 3, 2), date(2026, 4, 1))
    parsed = parse_params(
        {"from": "2026-01-01", "to": "2026-02-01", "model": "linear", "partner_id": "coupon-hub",
         "granularity": "week", "group_by": "campaign", "format": "csv", "key": "ignored"},
        TODAY,
    )  # fmt: skip
    assert parsed == ReportParams(
        date(2026, 1, 1), date(2026, 2, 1), "linear", "coupon-hub", "", "", "week", "campaign",
        "csv",
    )  # fmt: skip
    assert parsed.query_parameters("acme")["date_to"] == "2026-02-01"
    only_to = parse_params({"to": "2026-02-01"}, TODAY)
    assert only_to.date_from == date(2026, 1, 2)


def test_parse_error_names_the_parameter() -> None:
    with pytest.raises(InvalidParameter, match="granularity") as raised:
        parse_params({"granularity": "hour"}, TODAY)
    assert raised.value.reason == "invalid_granularity"
    assert raised.value.status_code == 400

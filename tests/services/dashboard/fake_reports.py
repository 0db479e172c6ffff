"""A small stand-in for the reports API (same paths, parameters and JSON shapes as the
contract), with fixed, deterministic data so the page test can count what it must draw.

As in the real API, `from` is inclusive and `to` exclusive. A `from` date in the year 2000
selects an empty range: every report answers with no rows.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response

READ_KEY = "dev-acme-read-key"
PARTNERS = [
    "coupon-hub",
    "cashback-club",
    "style-by-mia",
    "gadget-review-blog",
    "bizleads",
    "mobidream",
]
PARTNER_TYPES = {
    "coupon-hub": "affiliate",
    "cashback-club": "affiliate",
    "style-by-mia": "influencer",
    "gadget-review-blog": "content",
    "bizleads": "b2b",
    "mobidream": "mobile_network",
}
MODELS = [
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
]
CTIT_EDGES = [0, 10, 60, 300, 1800, 3600, 21600, 86400]
EXPLAINED_CONVERSION = "order-10023"


def performance(start: date, end: date, group_by: str) -> list[list[Any]]:
    keys = PARTNERS if group_by == "partner" else sorted(set(PARTNER_TYPES.values()))
    rows: list[list[Any]] = []
    day = start
    while day < end:
        n = (day - start).days
        weekend = 3 if day.weekday() >= 5 else 0
        for k, key in enumerate(keys):
            conversions = 4 + 2 * k + weekend * (k % 2) + round(3 * math.sin(n / 4 + k))
            revenue = conversions * (4_250 + 610 * k)
            credited = revenue * (60 + 5 * k) // 100
            rows.append(
                [
                    day.isoformat(),
                    key,
                    300 + 17 * n + 40 * k,
                    900 + 31 * n,
                    10 + n % 5 + k,
                    conversions,
                    revenue,
                    credited,
                    credited // 10,
                ]
            )
        day += timedelta(days=1)
    return rows


def role_mix() -> list[list[Any]]:
    return [
        [
            p,
            40 + 9 * i,
            25 + (i * 7) % 20,
            60 - 8 * i,
            (40 + 9 * i) * 3_100,
            (25 + (i * 7) % 20) * 2_000,
            (60 - 8 * i) * 5_400,
        ]
        for i, p in enumerate(PARTNERS)
    ]


def model_comparison() -> list[list[Any]]:
    rows: list[list[Any]] = []
    for i, p in enumerate(PARTNERS):
        values = [180_000 + 13_000 * ((i + 3 * m) % 7) - 9_000 * i for m in range(len(MODELS))]
        delta = round((values[-1] - values[0]) / values[0] * 100, 1)
        rows.append([p, *values, delta])
    return rows


def overlap_matrix() -> list[list[float | None]]:
    return [
        [None if a == b else round(((a * 3 + b * 5) % 11) / 20, 3) for b in range(len(PARTNERS))]
        for a in range(len(PARTNERS))
    ]


def overlap_rows(matrix: list[list[float | None]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for a, pa in enumerate(PARTNERS):
        customers = 200 + 35 * a
        for b, pb in enumerate(PARTNERS):
            share = matrix[a][b]
            if share is not None:
                rows.append([pa, pb, customers, round(customers * share), share])
    return rows


def customer_value() -> list[list[Any]]:
    rows: list[list[Any]] = []
    for i, p in enumerate(PARTNERS[:5]):
        customers = 120 - 15 * i
        r7, r30, r90 = (customers * (3_000 + 500 * i) * f for f in (1, 2, 3))
        rows.append(
            [p, customers, r7, r30, r90, r7 // customers, r30 // customers, r90 // customers]
        )
    return rows


def ctit_counts() -> dict[str, list[int]]:
    shapes = {
        "coupon-hub": [2, 14, 40, 55, 38, 20, 9],
        "mobidream": [61, 30, 22, 18, 12, 9, 40],
        "style-by-mia": [0, 6, 25, 44, 31, 16, 7],
    }
    return shapes


def quality_rows() -> list[list[Any]]:
    """Web partners credit no install (no flagged share); mobidream won 192, 42 flagged."""
    return [
        ["coupon-hub", 4200, 0.021, 0.034, 41, 420, 5400, 178, 0.0, 0.0, None, ""],
        ["mobidream", 9100, 0.118, 0.205, 4, 95, 30000, 192, 150.0, 42.0, 0.21875,
         "click_flooding"],
        ["style-by-mia", 2600, 0.012, 0.018, 55, 610, 6100, 129, 0.0, 0.0, None, ""],
    ]  # fmt: skip


SHARE_COLUMNS = ("bot_share", "flagged_share", "flagged_install_share")  # dots of the quality card


def flagged_installs() -> list[dict[str, Any]]:
    return [
        {"install_id": f"install-{n}", "installed_at": f"2026-11-2{n}T10:00:00Z",
         "partner_id": "mobidream", "reasons": ["click_flooding"]}
        for n in (3, 2, 1)
    ]  # fmt: skip


TIME_TO_CONVERT = [
    ["< 1 h", 42],
    ["1–24 h", 88],
    ["1–3 d", 61],
    ["3–7 d", 37],
    ["7–30 d", 19],
    ["> 30 d", 6],
]
PATH_LENGTH = [[1, 140], [2, 71], [3, 33], [4, 12], [5, 5]]

EXPLAIN: dict[str, Any] = {
    "conversion": {
        "conversion_id": EXPLAINED_CONVERSION,
        "advertiser_id": "acme-shop",
        "ts": "2026-11-20T14:32:00Z",
        "revenue": 12_990,
        "currency": "EUR",
        "customer_id": "cust-88",
    },
    "path": [
        {
            "touch_id": "t1",
            "partner_id": "style-by-mia",
            "type": "impression",
            "ts": "2026-11-12T09:00:00Z",
            "role": "introducer",
            "weight": 0.4,
            "credited_revenue": 5_196,
            "model": "position_based",
        },
        {
            "touch_id": "t2",
            "partner_id": "gadget-review-blog",
            "type": "click",
            "ts": "2026-11-16T18:20:00Z",
            "role": "influencer",
            "weight": 0.2,
            "credited_revenue": 2_598,
            "model": "position_based",
        },
        {
            "touch_id": "t3",
            "partner_id": "coupon-hub",
            "type": "click",
            "ts": "2026-11-20T14:25:00Z",
            "role": "closer",
            "weight": 0.4,
            "credited_revenue": 5_196,
            "model": "position_based",
        },
    ],
    "excluded": [
        {
            "touch_id": "t0",
            "partner_id": "cashback-club",
            "ts": "2026-10-01T10:00:00Z",
            "reason": "outside_lookback_window",
        },
    ],
    "payouts": [
        {
            "partner_id": "coupon-hub",
            "payout_type": "cpa",
            "amount": 800,
            "currency": "EUR",
            "contract_id": "acme-affiliate-cpa",
        },
        {
            "partner_id": "gadget-review-blog",
            "payout_type": "revshare",
            "amount": 390,
            "currency": "EUR",
            "contract_id": "acme-content-revshare",
        },
    ],
}

COLUMNS = {
    "performance": [
        "period",
        "key",
        "clicks",
        "impressions",
        "installs",
        "conversions",
        "revenue",
        "credited_revenue",
        "payouts",
    ],
    "role-mix": [
        "partner_id",
        "introducer_count",
        "influencer_count",
        "closer_count",
        "introducer_revenue",
        "influencer_revenue",
        "closer_revenue",
    ],
    "model-comparison": ["partner_id", *MODELS, "last_touch_delta_pct"],
    "overlap": ["partner_a", "partner_b", "customers_a", "shared", "share"],
    "customer-value": [
        "introducer_partner_id",
        "customers",
        "revenue_7d",
        "revenue_30d",
        "revenue_90d",
        "per_customer_7d",
        "per_customer_30d",
        "per_customer_90d",
    ],
    "time-to-convert": ["bucket", "conversions"],
    "path-length": ["touches", "conversions"],
    "quality": [
        "partner_id",
        "clicks",
        "bot_share",
        "flagged_share",
        "ctit_p10",
        "ctit_p50",
        "ctit_p90",
        "installs",
        "credited_installs",
        "flagged_installs",
        "flagged_install_share",
        "flag_reasons",
    ],
}


def report_body(report: str, start: date, end: date, group_by: str) -> dict[str, Any]:
    """The JSON body of `report` for the range (no rows for a range in the year 2000)."""
    empty = start.year == 2000
    body: dict[str, Any] = {
        "report": report,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "columns": COLUMNS[report],
        "rows": [],
    }
    if report == "overlap":
        matrix = [] if empty else overlap_matrix()
        body |= {
            "partners": [] if empty else PARTNERS,
            "matrix": matrix,
            "rows": overlap_rows(matrix) if matrix else [],
        }
    elif report == "quality":
        body |= {
            "ctit_histogram": {"buckets": CTIT_EDGES, "partners": {} if empty else ctit_counts()},
            "rejected": []
            if empty
            else [{"reason": "bot", "count": 311}, {"reason": "duplicate", "count": 57}],
            "rows": [] if empty else quality_rows(),
            "flagged_installs": [] if empty else flagged_installs(),
        }
    elif empty:
        pass
    elif report == "performance":
        body["rows"] = performance(start, end, group_by)
    else:
        rows: dict[str, list[list[Any]]] = {
            "role-mix": role_mix(),
            "model-comparison": model_comparison(),
            "customer-value": customer_value(),
            "time-to-convert": [list(r) for r in TIME_TO_CONVERT],
            "path-length": [list(r) for r in PATH_LENGTH],
        }
        body["rows"] = rows[report]
    return body


def csv_text(body: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(body["columns"])
    writer.writerows(body["rows"])
    return out.getvalue()


def refused() -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_read_key", "detail": "unknown read key"}, status_code=401
    )


def authorized(authorization: str | None, key: str | None) -> bool:
    return authorization == f"Bearer {READ_KEY}" or key == READ_KEY


def build_fake_reports_router() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/reports/{report}")
    async def report(
        report: str,
        from_: Annotated[date, Query(alias="from")],
        to: date,
        authorization: Annotated[str | None, Header()] = None,
        key: str | None = None,
        format: str = "json",
        group_by: str = "partner",
        granularity: str = "day",
        model: str = "last_touch",
    ) -> Response:
        if not authorized(authorization, key):
            return refused()
        if report not in COLUMNS:
            return JSONResponse({"error": "unknown_report", "detail": report}, status_code=404)
        body = report_body(report, from_, to, group_by)
        if format == "csv":
            return Response(csv_text(body), media_type="text/csv; charset=utf-8")
        return JSONResponse(body)

    @router.get("/v1/conversions/{conversion_id}/explain")
    async def explain(
        conversion_id: str,
        authorization: Annotated[str | None, Header()] = None,
        key: str | None = None,
        model: str = "last_touch",
    ) -> Response:
        if not authorized(authorization, key):
            return refused()
        if conversion_id != EXPLAINED_CONVERSION:
            return JSONResponse(
                {"error": "unknown_conversion", "detail": conversion_id}, status_code=404
            )
        path = [{**touch, "model": model} for touch in EXPLAIN["path"]]
        return JSONResponse({**EXPLAIN, "path": path})

    return router

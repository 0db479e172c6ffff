"""The reports API: /v1/reports/<name> and /v1/conversions/{id}/explain.

Every request names an advertiser READ key (`Authorization: Bearer <key>` or `?key=`) and
sees only that advertiser's data. Reports answer JSON (`{"report", "from", "to", "columns",
"rows", ...}`) or, with `?format=csv`, the same columns and rows as CSV. Errors are
`{"error": reason, "detail": message}` with 400 (bad parameter), 401 (missing or unknown
key), 404 (unknown conversion) or 503 (store unavailable), mapped here, in the route class,
so the router behaves the same in whichever app includes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from attribution.engine import EngineConfig
from attribution.windows import DAY_MS
from services.clock import Clock
from services.reports.errors import InvalidParameter, ReportError
from services.reports.explain import explain_conversion
from services.reports.params import parse_params
from services.reports.reports import REPORTS, Scope
from services.reports.store import ClickHouseReportStore, ReportStore
from services.reports.tables import Report
from tracker.errors import Unauthorized
from tracker.registry import Registry

NO_STORE = {"Cache-Control": "no-store"}


def _error(status_code: int, reason: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": reason, "detail": detail}, status_code=status_code)


class ReportRoute(APIRoute):
    """Maps the errors of a report (and of the read-key check) to their HTTP answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except ReportError as exc:
                response = _error(exc.status_code, exc.reason, exc.message)
                if exc.retriable:
                    response.headers["Retry-After"] = "5"
                return response
            except Unauthorized as exc:
                response = _error(401, exc.reason, exc.message)
                response.headers["WWW-Authenticate"] = 'Bearer realm="partnerstream reports"'
                return response

        return guarded


def read_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query_params.get("key") or None


def build_reports_router(
    client: Client,
    registry: Registry,
    clock: Clock,
    *,
    engine: EngineConfig | None = None,
    store: ReportStore | None = None,
) -> APIRouter:
    """The reports API over `client` (or `store`), keys from `registry`, "today" from `clock`.

    `engine` is the attributor's engine configuration: explanations replay journeys with it,
    and its longest lookback bounds how far before a conversion its touches are looked for.
    """
    engine = engine or EngineConfig()
    reports_store = store or ClickHouseReportStore(client)
    lookback_days = math.ceil(engine.windows.longest_ms / DAY_MS) + 1
    router = APIRouter(route_class=ReportRoute, tags=["reports"])

    def advertiser_of(request: Request) -> str:
        return registry.advertiser_for_read_key(read_key(request)).id

    def today() -> datetime:
        return datetime.fromtimestamp(clock.now_ms() / 1000, tz=UTC)

    def report_endpoint(name: str) -> Callable[[Request], Response]:
        run = REPORTS[name]

        def endpoint(request: Request) -> Response:
            advertiser_id = advertiser_of(request)
            params = parse_params(request.query_params, today().date())
            report: Report = run(reports_store, Scope(advertiser_id, params, lookback_days))
            if params.output == "csv":
                return Response(
                    report.csv(),
                    media_type="text/csv; charset=utf-8",
                    headers={
                        **NO_STORE,
                        "Content-Disposition": f'attachment; filename="{name}.csv"',
                    },
                )
            return Response(
                orjson.dumps(report.body(params)), media_type="application/json", headers=NO_STORE
            )

        endpoint.__name__ = f"report_{name.replace('-', '_')}"
        return endpoint

    for name in REPORTS:
        router.add_api_route(
            f"/v1/reports/{name}",
            report_endpoint(name),
            methods=["GET"],
            summary=f"The {name} report",
            response_class=Response,
        )

    @router.get("/v1/conversions/{conversion_id}/explain", response_class=Response)
    def explain(conversion_id: str, request: Request) -> Response:
        """One conversion's path, roles, weights, exclusions and payouts (JSON only)."""
        advertiser_id = advertiser_of(request)
        params = parse_params(request.query_params, today().date())
        if params.output != "json":
            raise InvalidParameter("explain answers JSON only", reason="invalid_format")
        body = explain_conversion(reports_store, advertiser_id, conversion_id, params.model, engine)
        return Response(orjson.dumps(body), media_type="application/json", headers=NO_STORE)

    return router

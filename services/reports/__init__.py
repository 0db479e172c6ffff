"""The reports API (issue 7): partner performance, role mix, models compared, overlap,
customer value, time to convert, path length, traffic quality, and one conversion explained.

`build_reports_router(client, registry, clock)` gives the FastAPI router; the SQL lives in
`services.reports.queries` (Grafana runs the same text, see `services.reports.grafana`).
"""

from services.reports.router import build_reports_router

__all__ = ["build_reports_router"]

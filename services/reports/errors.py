"""Errors of the reports API, each with the HTTP status and stable reason code it answers with.

    ReportError                   500  report_error
    ├── InvalidParameter          400  invalid_date | invalid_range | invalid_model
    │                                  | invalid_granularity | invalid_group_by
    │                                  | invalid_format | invalid_filter
    ├── UnknownConversion         404  unknown_conversion
    └── ReportStoreUnavailable    503  store_unavailable      (retriable)

Missing or unknown read keys are `tracker.errors.Unauthorized` (401 read_key_missing /
read_key_unknown), raised by the registry. `services.reports.router` is the one place that
turns all of them into `{"error": reason, "detail": message}`.
"""

from __future__ import annotations

from typing import ClassVar


class ReportError(Exception):
    retriable: ClassVar[bool] = False
    status_code: ClassVar[int] = 500
    reason: str = "report_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidParameter(ReportError):
    """A query parameter that cannot be parsed or is out of range."""

    status_code = 400
    reason = "invalid_parameter"


class UnknownConversion(ReportError):
    """No conversion with that id for this advertiser (another advertiser's looks the same)."""

    status_code = 404
    reason = "unknown_conversion"


class ReportStoreUnavailable(ReportError):
    """ClickHouse did not answer the query."""

    retriable = True
    status_code = 503
    reason = "store_unavailable"

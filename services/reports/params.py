"""Query parameters shared by every report, parsed and checked once (pure: `today` is given).

- `from`, `to`: ISO dates (YYYY-MM-DD), `from` inclusive, `to` exclusive; by default the
  last 30 days up to and including today (`to` = tomorrow). At most `MAX_RANGE_DAYS`.
- `model`: one of the streaming models stored in `attribution_credits` (default last_touch).
- `partner_id`, `partner_type`, `campaign_id`: optional filters ('' = no filter).
- `granularity` (day | week | month) and `group_by` (partner | partner_type | campaign):
  performance report only.
- `format`: json (default) or csv.

Anything else in the query string (e.g. `key`) is ignored here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.reports.errors import InvalidParameter

DEFAULT_RANGE_DAYS = 30
MAX_RANGE_DAYS = 3 * 366
MODELS = ("last_touch", "first_touch", "linear", "time_decay", "position_based", "role_weights")
GRANULARITIES = ("day", "week", "month")
GROUP_BYS = ("partner", "partner_type", "campaign")
FORMATS = ("json", "csv")
_FILTER = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


@dataclass(frozen=True, slots=True)
class ReportParams:
    date_from: date
    date_to: date
    model: str = "last_touch"
    partner_id: str = ""
    partner_type: str = ""
    campaign_id: str = ""
    granularity: str = "day"
    group_by: str = "partner"
    output: str = "json"

    def query_parameters(self, advertiser_id: str) -> dict[str, Any]:
        """The values bound to the `{name:Type}` placeholders of `services.reports.queries`."""
        return {
            "advertiser_id": advertiser_id,
            "date_from": self.date_from.isoformat(),
            "date_to": self.date_to.isoformat(),
            "model": self.model,
            "partner_id": self.partner_id,
            "partner_type": self.partner_type,
            "campaign_id": self.campaign_id,
            "granularity": self.granularity,
            "group_by": self.group_by,
        }


def parse_params(query: Mapping[str, str], today: date) -> ReportParams:
    """Raises InvalidParameter (400) naming the parameter and what was wrong."""
    date_to = _date(query, "to") or today + timedelta(days=1)
    date_from = _date(query, "from") or date_to - timedelta(days=DEFAULT_RANGE_DAYS)
    if date_from >= date_to:
        raise InvalidParameter(
            f"from ({date_from}) must be before to ({date_to}); to is exclusive",
            reason="invalid_range",
        )
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        raise InvalidParameter(
            f"the range may span at most {MAX_RANGE_DAYS} days", reason="invalid_range"
        )
    return ReportParams(
        date_from=date_from,
        date_to=date_to,
        model=_choice(query, "model", MODELS, "invalid_model"),
        partner_id=_filter(query, "partner_id"),
        partner_type=_filter(query, "partner_type"),
        campaign_id=_filter(query, "campaign_id"),
        granularity=_choice(query, "granularity", GRANULARITIES, "invalid_granularity"),
        group_by=_choice(query, "group_by", GROUP_BYS, "invalid_group_by"),
        output=_choice(query, "format", FORMATS, "invalid_format"),
    )


def _date(query: Mapping[str, str], name: str) -> date | None:
    raw = query.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) != 10:
            raise ValueError("expected YYYY-MM-DD")
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidParameter(
            f"{name}: {raw[:40]!r} is not a date like 2026-03-01", reason="invalid_date"
        ) from None


def _choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...], reason: str) -> str:
    raw = query.get(name, "").strip()
    if not raw:
        return allowed[0]
    if raw not in allowed:
        raise InvalidParameter(
            f"{name}: {raw[:40]!r} is not one of {', '.join(allowed)}", reason=reason
        )
    return raw


def _filter(query: Mapping[str, str], name: str) -> str:
    raw = query.get(name, "").strip()
    if raw and not _FILTER.match(raw):
        raise InvalidParameter(f"{name}: at most 128 printable characters", reason="invalid_filter")
    return raw

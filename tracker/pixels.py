"""The conversion pixel's query parameters -> a raw conversion event (pure).

`GET /p.gif?event=purchase&order_id=A1&amount=12.50&currency=EUR&clickid=...&key=...`
`amount` is in major units (what a page knows); it becomes integer minor units here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracker.errors import InvalidEvent
from tracker.postbacks.currencies import major_to_minor, normalise_currency, parse_decimal

PIXEL_FIELDS = ("order_id", "customer_id", "sub1", "sub2", "sub3", "sub4", "sub5")


def conversion_from_pixel(
    params: Mapping[str, str], *, ts_ms: int, cookie_click_id: str | None, default_currency: str
) -> dict[str, Any]:
    """A dict for `schemas.events.parse_event`; InvalidEvent names the bad parameter."""
    event_name = (params.get("event") or "conversion").strip().lower()
    raw: dict[str, Any] = {"type": "conversion", "event_name": event_name, "ts": ts_ms}
    for name in PIXEL_FIELDS:
        if params.get(name):
            raw[name] = params[name]
    click_id = params.get("clickid") or params.get("click_id") or cookie_click_id
    if click_id:
        raw["click_id"] = click_id
    amount = params.get("amount")
    if amount:
        try:
            currency = normalise_currency(params.get("currency") or default_currency)
            value = major_to_minor(parse_decimal(amount), currency)
        except ValueError as exc:
            raise InvalidEvent(f"amount/currency: {exc}") from exc
        if value < 0:
            raise InvalidEvent("amount: must not be negative")
        raw["revenue"] = value
        raw["currency"] = currency
    return raw

"""Parsing SDK batch bodies and validating their events one by one (pure).

A body is `{"events": [...], "write_key": "..."}` as JSON, sent as application/json or, by
`navigator.sendBeacon`, as text/plain. One bad event never sinks the batch: each item is
validated on its own and the caller keeps the good ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import EventBase, event_adapter
from tracker.errors import InvalidEvent, InvalidRequest, TooLarge

SERVER_ONLY_TYPES = frozenset({"reversal"})


class InvalidJson(InvalidRequest):
    reason = "invalid_json"


class InvalidBatch(InvalidRequest):
    reason = "invalid_batch"


@dataclass(frozen=True, slots=True)
class SdkBatch:
    write_key: str | None
    items: list[Any]


def parse_batch_body(body: bytes) -> SdkBatch:
    """The batch's write key (if in the body) and raw items; InvalidRequest if malformed."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(f"body is not valid JSON: {exc}") from exc
    if isinstance(data, list):
        data = {"events": data}
    if not isinstance(data, dict):
        raise InvalidBatch("body must be a JSON object with an `events` list")
    items = data.get("events")
    if not isinstance(items, list):
        raise InvalidBatch("`events` must be a list of events")
    key = data.get("write_key")
    if key is not None and not isinstance(key, str):
        raise InvalidBatch("`write_key` must be a string")
    return SdkBatch(write_key=key, items=items)


def describe(exc: ValidationError) -> str:
    """`field.path: message` for each problem, the way clients can act on it."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


def check_item_size(item: Any, max_event_bytes: int) -> None:
    """TooLarge when the item's JSON is longer than `max_event_bytes`."""
    if len(orjson.dumps(item)) > max_event_bytes:
        raise TooLarge(f"event is larger than {max_event_bytes} bytes")


def validate_item(
    item: Any, *, max_event_bytes: int, check_size: bool, allowed_server_only: bool = False
) -> EventBase:
    """One event of a batch, or InvalidEvent / TooLarge naming the problem.

    `check_size` is False when the whole body is under the per-event limit (no need to
    measure each item again).
    """
    if check_size:
        check_item_size(item, max_event_bytes)
    if not isinstance(item, dict):
        raise InvalidEvent("an event must be a JSON object")
    kind = item.get("type")
    if not allowed_server_only and isinstance(kind, str) and kind in SERVER_ONLY_TYPES:
        raise InvalidEvent(f"`{item['type']}` events are accepted only from authenticated servers")
    if item.get("apple") is not None:
        raise InvalidEvent(
            "`apple` is set only from verified SKAdNetwork / AdAttributionKit postbacks"
        )
    try:
        return event_adapter.validate_python(item)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc)) from exc

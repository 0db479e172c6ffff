"""Typed reads of JSON fields for Apple postbacks, with errors that name the field.

Apple sends JSON numbers, booleans and strings; a value of another JSON type (a number sent
as a string, ``1`` for ``true``) is malformed: the signed string is built from the received
values, so guessing would only move the failure to the signature check, with a vaguer reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from tracker.postbacks.errors import PostbackMalformed

JsonObject = Mapping[str, object]


class FieldReader:
    """Reads fields of one JSON object; every error carries ``reason`` and the field name."""

    def __init__(self, data: JsonObject, reason: str) -> None:
        self.data = data
        self.reason = reason

    def fail(self, name: str, message: str) -> PostbackMalformed:
        return PostbackMalformed(message, field=name, reason=self.reason)

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def _require(self, name: str) -> object:
        value = self.data.get(name)
        if value is None:
            raise self.fail(name, "missing")
        return value

    def str_(self, name: str) -> str:
        value = self._require(name)
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {type(value).__name__}")
        if not value.strip():
            raise self.fail(name, "empty")
        return value

    def int_(self, name: str, *, low: int | None = None, high: int | None = None) -> int:
        value = self._require(name)
        # bool is an int subclass in Python; JSON true is not a number.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"expected an integer, got {type(value).__name__}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(name, f"{value} is out of range [{low}, {high}]")
        return value

    def bool_(self, name: str) -> bool:
        value = self._require(name)
        if not isinstance(value, bool):
            raise self.fail(name, f"expected true or false, got {type(value).__name__}")
        return value

    def optional_str(self, name: str) -> str | None:
        return self.str_(name) if self.has(name) else None

    def optional_int(
        self, name: str, *, low: int | None = None, high: int | None = None
    ) -> int | None:
        return self.int_(name, low=low, high=high) if self.has(name) else None

    def choice(self, name: str, choices: frozenset[str]) -> str:
        value = self.str_(name)
        if value not in choices:
            raise self.fail(name, f"{value!r} is not one of {sorted(choices)}")
        return value

    def optional_choice(self, name: str, choices: frozenset[str]) -> str | None:
        return self.choice(name, choices) if self.has(name) else None


def json_object(body: bytes | str | JsonObject, reason: str) -> JsonObject:
    """The postback body as a JSON object (already-parsed mappings pass through)."""
    if isinstance(body, Mapping):
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PostbackMalformed(f"body is not JSON ({exc})", reason=reason) from exc
    if not isinstance(data, dict):
        raise PostbackMalformed("body is not a JSON object", reason=reason)
    return data

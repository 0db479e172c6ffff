"""tracker.utc_text: the text pydantic writes for a UtcDatetime field, or None."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas.events import UtcDatetime
from tracker.utc_text import format_utc, utc_text


class Stamped(BaseModel):
    at: UtcDatetime


def pydantic_text(value: object) -> str | None:
    try:
        return Stamped(at=value).model_dump(mode="json")["at"]  # type: ignore[no-any-return]
    except ValidationError:
        return None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2026-11-23T10:00:00Z", "2026-11-23T10:00:00Z"),
        ("2026-11-23T10:00:00.5Z", "2026-11-23T10:00:00.500000Z"),
        ("2026-11-23T10:00:00.000Z", "2026-11-23T10:00:00Z"),
        ("2026-11-23T10:00:00.123456Z", "2026-11-23T10:00:00.123456Z"),
        ("2026-11-23T11:30:00+01:30", "2026-11-23T10:00:00Z"),
        ("2026-11-23T10:00:00", "2026-11-23T10:00:00Z"),  # naive means UTC
        (1_795_428_000_005, "2026-11-23T10:00:00.005000Z"),
        (1_795_428_000_000.5, "2026-11-23T10:00:00.000500Z"),
        ("1999-12-31T23:59:59Z", None),  # before 2000: pydantic refuses it
        ("2000-01-01T00:30:00+01:00", None),
        (946_684_799_999, None),
        ("2026-11-23T10:00:00.1234567Z", None),  # forms left to pydantic
        ("2026-11-23 10:00:00Z", None),
        ("2026-11-23T10:00:00+00:60", None),
        ("2026-W47-1T10:00:00Z", None),
        (True, None),
        (None, None),
    ],
)
def test_forms_and_their_text(value: object, text: str | None) -> None:
    assert utc_text(value) == text
    if text is not None:
        assert pydantic_text(value) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(946_684_800_000 - 10, 4_102_444_800_000 + 10))
def test_epoch_milliseconds_give_the_text_of_the_models_conversion(ms: int) -> None:
    assert utc_text(ms) == pydantic_text(ms)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(min_value=datetime(1999, 12, 30), max_value=datetime(2200, 1, 1)),
    st.sampled_from(["Z", "", "+05:30", "-23:59"]),
    st.integers(0, 6),
)
def test_iso_texts_give_the_text_pydantic_writes_or_none(
    moment: datetime, zone: str, digits: int
) -> None:
    value = (
        moment.isoformat(timespec="seconds")
        + (f".{moment.microsecond:06d}"[: digits + 1] if digits else "")
        + zone
    )
    text = utc_text(value)
    assert text is None or text == pydantic_text(value)
    if moment.year >= 2001:
        assert text is not None  # these forms are all taken


def test_format_utc_writes_what_pydantic_writes() -> None:
    moment = datetime(2026, 11, 23, 10, 0, 0, 5000, tzinfo=UTC)
    assert format_utc(moment) == pydantic_text(moment) == "2026-11-23T10:00:00.005000Z"
    assert format_utc(moment.replace(microsecond=0)) == "2026-11-23T10:00:00Z"

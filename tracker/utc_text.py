"""The canonical text of timestamps, as the wire models write them (pure).

A `schemas.events.UtcDatetime` field takes an ISO-8601 text or epoch milliseconds and is
written by pydantic as ``2026-11-23T10:00:00.500000Z`` (``...:00Z`` without microseconds).
`utc_text` gives that text without building the model, for the forms senders use:

* ``YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z``: the text itself, its fraction filled to microseconds;
* the same with a ``+HH:MM`` / ``-HH:MM`` offset or none (UTC), through a datetime;
* epoch milliseconds (int; 2000 to 2100 by arithmetic, else as `_to_utc` does) or float.

Anything else, and anything before 2000-01-01, gives None: the caller leaves it to pydantic.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from schemas.events import MIN_TS

_ZULU = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.([0-9]{1,6}))?Z"
).fullmatch
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
).fullmatch
_MIN_MS: Final = int(MIN_TS.timestamp() * 1000)
_MAX_MS: Final = 4_102_444_800_000  # 2100-01-01: below 2**32 s, ms / 1000.0 rounds exactly


def format_utc(moment: datetime) -> str:
    """A UTC datetime as pydantic writes it: ``2026-11-23T10:00:00.500000Z``."""
    return moment.isoformat()[:-6] + "Z"


@functools.lru_cache(maxsize=512)
def _day_text(days: int) -> str:
    return (_EPOCH_DAY + timedelta(days=days)).isoformat() + "T"


_EPOCH_DAY = date(1970, 1, 1)
_HOURS_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60))
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_MILLIS = ("Z", *(f".{ms:03d}000Z" for ms in range(1, 1000)))


def _ms_text(ms: int) -> str:
    """`format_utc(datetime.fromtimestamp(ms / 1000.0, tz=UTC))` for ms in 2000..2100, where
    the float's error (< 0.25 us) cannot move the microseconds off ``ms * 1000``."""
    seconds, millis = divmod(ms, 1000)
    days, second_of_day = divmod(seconds, 86_400)
    minute, second = divmod(second_of_day, 60)
    return _day_text(days) + _HOURS_MINUTES[minute] + _SECONDS[second] + _MILLIS[millis]


def utc_text(value: Any) -> str | None:
    """The text pydantic writes for a `UtcDatetime` field given ``value`` (after `_to_utc`
    and `_check_utc`), or None when ``value`` is not in one of the forms above (pydantic
    decides what those give)."""
    kind = type(value)
    if kind is int:
        if _MIN_MS <= value < _MAX_MS:
            return _ms_text(value)
    elif kind is str:
        text: str = value
        zulu = _ZULU(text)
        if zulu is not None:  # the common form: the text itself, microseconds filled in
            try:
                datetime.fromisoformat(text)  # the ranges of month, day, hour...
            except ValueError:
                return None
            if text < "2000":
                return None
            fraction = zulu[1]
            if fraction is None or (len(fraction) == 6 and fraction != "000000"):
                return text
            micros = fraction.ljust(6, "0")
            return text[:19] + "Z" if micros == "000000" else text[:20] + micros + "Z"
    return _any_utc_text(value)


def _any_utc_text(value: Any) -> str | None:
    """`utc_text` through a datetime: offsets, naive times, floats, other epochs."""
    kind = type(value)
    try:
        if kind is str:
            if _ISO(value) is None:
                return None
            moment = datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        elif kind is int or kind is float:
            moment = datetime.fromtimestamp(value / 1000.0, tz=UTC)
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    if moment < MIN_TS:
        return None
    return format_utc(moment)

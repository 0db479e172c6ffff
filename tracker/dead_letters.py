"""Dead letters: what was refused, why, and the raw input, so nothing is silently dropped.

A dead letter goes to the `events.dlq.v1` topic and from there to the `rejected_events` table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import orjson

MAX_RAW_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    rejected_id: str
    received_at_ms: int
    endpoint: str
    source: str
    reason: str
    detail: str
    status_code: int
    raw: str
    advertiser_id: str = ""

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @property
    def key(self) -> bytes:
        return self.rejected_id.encode()


def raw_text(raw: bytes | str | object) -> str:
    """The raw input as text, capped at MAX_RAW_BYTES (binary decoded with replacement)."""
    if isinstance(raw, bytes):
        text = raw[:MAX_RAW_BYTES].decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw[:MAX_RAW_BYTES]
    else:
        text = orjson.dumps(raw, default=str).decode()[:MAX_RAW_BYTES]
    return text

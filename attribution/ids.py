"""Stable 64-bit ids for strings, computed at the edge of the engine.

The engine only sees int64 columns. Strings (event ids, visitor ids, partner ids, event
names) are hashed once, where records become columns, with BLAKE2b (8-byte digest, read as a
little-endian signed int64). The result is the same in every process and on every machine
(unlike Python's `hash`, which is salted per process).

`NONE_ID` (0) is reserved for "no value": `None` and the empty string hash to 0, and a
non-empty string whose digest happens to be 0 is mapped to 1 so that 0 stays unambiguous.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

import numpy as np
from numpy.typing import NDArray

NONE_ID: Final = 0

IdLike = str | bytes | None


def _digest(value: IdLike) -> bytes:
    if value is None or len(value) == 0:
        return bytes(8)
    raw = value.encode("utf-8") if isinstance(value, str) else value
    digest = hashlib.blake2b(raw, digest_size=8).digest()
    return digest if digest != bytes(8) else (1).to_bytes(8, "little")


def hash_id(value: IdLike) -> int:
    """The int64 id of one string (0 for `None` or "")."""
    return int.from_bytes(_digest(value), "little", signed=True)


def hash_ids(values: Iterable[IdLike]) -> NDArray[np.int64]:
    """The int64 ids of many strings, as one column."""
    joined = b"".join(_digest(v) for v in values)
    return np.frombuffer(joined, dtype="<i8").astype(np.int64)


INSTALL_EVENT: Final = hash_id("install")
"""`Conversions.event_name` of an install (`attribution.engine` says how installs are credited)."""

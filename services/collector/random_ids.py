"""Random ids and nonces for the collector, from a buffer of ``os.urandom`` bytes.

``uuid.uuid4()`` and ``os.urandom(8)`` each make a ``getrandom`` system call; a click needs
three of them. ``RandomPool`` reads 4 KiB of the same kernel CSPRNG at a time and hands out
slices (one system call per ~250 ids). Not shared across a fork: each process builds its own.
"""

from __future__ import annotations

import os
import uuid

POOL_BYTES = 4096


class RandomPool:
    __slots__ = ("_buffer", "_position")

    def __init__(self) -> None:
        self._buffer = b""
        self._position = 0

    def take(self, count: int) -> bytes:
        """``count`` (<= 4096) fresh random bytes, never handed out before."""
        end = self._position + count
        if end > len(self._buffer):
            self._buffer = os.urandom(POOL_BYTES)
            self._position, end = 0, count
        chunk = self._buffer[self._position : end]
        self._position = end
        return chunk

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.take(16), version=4)


_POOL = RandomPool()


def random_uuid() -> uuid.UUID:
    return _POOL.uuid4()


def random_bytes(count: int) -> bytes:
    return _POOL.take(count)


_IDS_PER_REFILL = 128
_ready_ids: list[str] = []


def new_event_id() -> str:
    """A UUIDv4 string (what ``str(uuid.uuid4())`` gives), formatted 128 at a time from one
    slice of the pool: one ``hex()`` per refill instead of one per id."""
    if not _ready_ids:
        _refill_ids()
    return _ready_ids.pop()


def _refill_ids() -> None:
    raw = bytearray(_POOL.take(16 * _IDS_PER_REFILL))
    raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    _ready_ids.extend(
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-"
        f"{h[i + 20 : i + 32]}"
        for i in range(0, len(h), 32)
    )

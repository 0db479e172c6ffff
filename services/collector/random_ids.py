"""Random ids and nonces for the collector, from a buffer of ``os.urandom`` bytes.

``uuid.uuid4()`` and ``os.urandom(8)`` each make a ``getrandom`` system call; a click needs
three of them. ``RandomPool`` reads 4 KiB of the same kernel CSPRNG at a time and hands out
slices (one system call per ~250 ids). Not shared across a fork: each process builds its own.
"""

from __future__ import annotations

import os
import uuid

import numpy as np

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
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DASHES = (8, 12, 16, 20)  # where the four dashes go among the 32 hex digits
_ready_ids: list[str] = []


def new_event_id() -> str:
    """A UUIDv4 string (what ``str(uuid.uuid4())`` gives), formatted 128 at a time from one
    slice of the pool: a few vectorised steps per refill, one string slice per id."""
    if not _ready_ids:
        _ready_ids.extend(uuid4_texts(_POOL.take(16 * _IDS_PER_REFILL)))
    return _ready_ids.pop()


def uuid4_texts(random: bytes) -> list[str]:
    """The UUIDv4 texts of ``random`` (16 bytes per id): version and variant bits set."""
    raw = np.frombuffer(random, dtype=np.uint8).reshape(-1, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.empty((len(raw), 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX_DIGITS[raw >> 4]
    digits[:, 1::2] = _HEX_DIGITS[raw & 0x0F]
    text = np.insert(digits, _DASHES, ord("-"), axis=1).tobytes().decode("ascii")
    return [text[i : i + 36] for i in range(0, len(text), 36)]

"""Signed click ids.

A click id is minted when a visitor clicks a partner link and comes back with the
conversion. It carries what the collector needs to route that conversion to the same Kafka
partition as the visitor's journey (the visitor id) and to link it to the click (the click
time and the nonce the click's event id derives from), signed so it cannot be forged.

Format (version 1), 44 bytes, base64url without padding = 59 characters::

    offset  size  field
    0       1     version (0x01)
    1       1     key id (0..255): which secret of the ring signed it
    2       6     click time, epoch milliseconds, unsigned big-endian
    8       16    visitor id (UUID bytes)
    24      8     nonce (random, chosen by the caller)
    32      12    HMAC-SHA256(secret, CONTEXT || bytes[0:32]) truncated to 96 bits

Secret rotation: a :class:`SecretRing` holds several ``(key_id, secret)`` pairs; the first
signs new ids, every one verifies the ids carrying its key id. Put a new secret first, keep
the old ones until ``max_age_ms`` has passed, then drop them.

The click's event id is a UUIDv7 built from the click time and the nonce
(:attr:`ClickIdClaims.event_id`), so the collector can give the click event that id and a
conversion can name the click it follows without a lookup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from tracker.errors import InvalidClickId

VERSION = 1
CONTEXT = b"partnerstream/click_id/v1\x00"
NONCE_BYTES = 8
MAC_BYTES = 12
PAYLOAD_BYTES = 1 + 1 + 6 + 16 + NONCE_BYTES
TOKEN_BYTES = PAYLOAD_BYTES + MAC_BYTES
TOKEN_CHARS = 59  # base64url of 44 bytes, no padding
MAX_TS_MS = (1 << 48) - 1
MIN_SECRET_BYTES = 16
DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000

_TOKEN_RE = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_CHARS}}}")


@dataclass(frozen=True, slots=True)
class SecretRing:
    """Click id secrets: ``keys[0]`` signs, all of them verify. Secrets never appear in repr."""

    keys: tuple[tuple[int, bytes], ...] = field(repr=False)
    _by_id: dict[int, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a secret ring needs at least one secret")
        by_id: dict[int, bytes] = {}
        for key_id, secret in self.keys:
            if not 0 <= key_id <= 255:
                raise ValueError(f"key id {key_id} is outside 0..255")
            if key_id in by_id:
                raise ValueError(f"key id {key_id} appears twice")
            if len(secret) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"secret of key id {key_id} is shorter than {MIN_SECRET_BYTES} bytes"
                )
            by_id[key_id] = secret
        object.__setattr__(self, "_by_id", by_id)

    @classmethod
    def of(cls, keys: Iterable[tuple[int, bytes | str]]) -> SecretRing:
        """Build a ring from ``(key_id, secret)`` pairs; str secrets are UTF-8 encoded."""
        return cls(tuple((kid, s.encode() if isinstance(s, str) else bytes(s)) for kid, s in keys))

    @classmethod
    def parse(cls, spec: str) -> SecretRing:
        """Parse ``"2:new-secret,1:old-secret"`` (as kept in an environment variable)."""
        pairs: list[tuple[int, bytes | str]] = []
        for item in spec.split(","):
            kid, sep, secret = item.strip().partition(":")
            if not sep or not kid.isdigit():
                raise ValueError("secret ring entries must look like '<key id>:<secret>'")
            pairs.append((int(kid), secret))
        return cls.of(pairs)

    @property
    def signing_key_id(self) -> int:
        return self.keys[0][0]

    def secret(self, key_id: int) -> bytes | None:
        return self._by_id.get(key_id)

    def __repr__(self) -> str:
        return f"SecretRing(key_ids={[kid for kid, _ in self.keys]})"


@dataclass(frozen=True, slots=True)
class ClickIdClaims:
    """What a verified click id says."""

    key_id: int
    ts_ms: int
    visitor_id: uuid.UUID
    nonce: bytes

    @property
    def event_id(self) -> uuid.UUID:
        """The click event's id: UUIDv7 from the click time and the nonce."""
        return event_id_for_click(self.ts_ms, self.nonce)


def event_id_for_click(ts_ms: int, nonce: bytes) -> uuid.UUID:
    """UUIDv7 (RFC 9562) whose 48-bit time is ``ts_ms`` and whose random bits hold ``nonce``."""
    rand = int.from_bytes(nonce, "big")  # 64 bits: 12 go to rand_a, 52 to rand_b
    rand_a = rand >> 52
    rand_b = rand & ((1 << 52) - 1)
    value = (ts_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, CONTEXT + payload, hashlib.sha256).digest()[:MAC_BYTES]


def mint_click_id(secret_ring: SecretRing, visitor_id: uuid.UUID, ts_ms: int, nonce: bytes) -> str:
    """Sign a click id for ``visitor_id`` clicking at ``ts_ms`` with a random 8-byte ``nonce``."""
    if not 0 <= ts_ms <= MAX_TS_MS:
        raise ValueError(f"ts_ms {ts_ms} does not fit in 48 bits")
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes, got {len(nonce)}")
    key_id = secret_ring.signing_key_id
    payload = bytes((VERSION, key_id)) + ts_ms.to_bytes(6, "big") + visitor_id.bytes + nonce
    secret = secret_ring.secret(key_id)
    assert secret is not None
    token = payload + _mac(secret, payload)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")


def _decode(token: str) -> bytes:
    if not _TOKEN_RE.fullmatch(token):
        raise InvalidClickId(
            "click id has the wrong length or characters", reason="click_id_malformed"
        )
    try:
        raw = base64.urlsafe_b64decode(token + "=")
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the regex admits only these
        raise InvalidClickId("click id is not base64url", reason="click_id_malformed") from exc
    # The last character carries 4 unused bits: refuse non-canonical spellings of the same bytes.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != token:
        raise InvalidClickId("click id is not canonical base64url", reason="click_id_malformed")
    return raw


def verify_click_id(
    secret_ring: SecretRing,
    token: str,
    now_ms: int,
    max_age_ms: int,
    *,
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
) -> ClickIdClaims:
    """Check a click id's signature and age; return its claims or raise :class:`InvalidClickId`.

    Reasons: ``click_id_malformed`` (shape, encoding, version), ``click_id_unknown_key`` (no
    secret with that key id in the ring), ``click_id_tampered`` (signature does not match),
    ``click_id_expired`` (older than ``max_age_ms``), ``click_id_from_future`` (more than
    ``max_skew_ms`` after ``now_ms``). Time checks run only once the signature is good.
    """
    raw = _decode(token)
    if raw[0] != VERSION:
        raise InvalidClickId(
            f"click id version {raw[0]} is not supported", reason="click_id_malformed"
        )
    payload, mac = raw[:PAYLOAD_BYTES], raw[PAYLOAD_BYTES:]
    key_id = raw[1]
    secret = secret_ring.secret(key_id)
    if secret is None:
        raise InvalidClickId(f"no secret for key id {key_id}", reason="click_id_unknown_key")
    if not hmac.compare_digest(_mac(secret, payload), mac):
        raise InvalidClickId("click id signature does not match", reason="click_id_tampered")
    ts_ms = int.from_bytes(raw[2:8], "big")
    if ts_ms > now_ms + max_skew_ms:
        raise InvalidClickId(
            f"click id is {ts_ms - now_ms} ms in the future", reason="click_id_from_future"
        )
    if now_ms - ts_ms > max_age_ms:
        raise InvalidClickId(
            f"click id is {now_ms - ts_ms} ms old (max {max_age_ms})", reason="click_id_expired"
        )
    return ClickIdClaims(
        key_id=key_id,
        ts_ms=ts_ms,
        visitor_id=uuid.UUID(bytes=raw[8:24]),
        nonce=raw[24:PAYLOAD_BYTES],
    )

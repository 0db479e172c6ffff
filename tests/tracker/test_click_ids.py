"""tracker.click_ids: minting, verification, tampering, rotation, expiry."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.click_ids import (
    MAC_BYTES,
    PAYLOAD_BYTES,
    TOKEN_CHARS,
    SecretRing,
    event_id_for_click,
    mint_click_id,
    verify_click_id,
)
from tracker.errors import InvalidClickId

SECRET_A = b"a" * 32
SECRET_B = b"b" * 32
RING = SecretRing.of([(7, SECRET_A)])
VISITOR = uuid.UUID("0b6f1c2e-3d4a-4b5c-8d6e-7f8091a2b3c4")
TS = 1_750_000_000_000
NONCE = bytes.fromhex("0102030405060708")
DAY_MS = 86_400_000


def _reason(ring: SecretRing, token: str, now_ms: int = TS, max_age_ms: int = DAY_MS) -> str:
    with pytest.raises(InvalidClickId) as info:
        verify_click_id(ring, token, now_ms, max_age_ms)
    return info.value.reason


def test_round_trip_returns_the_minted_claims() -> None:
    token = mint_click_id(RING, VISITOR, TS, NONCE)
    claims = verify_click_id(RING, token, TS + 1000, DAY_MS)
    assert claims.visitor_id == VISITOR
    assert claims.ts_ms == TS
    assert claims.nonce == NONCE
    assert claims.key_id == 7


def test_token_is_short_url_safe_and_unpadded() -> None:
    token = mint_click_id(RING, VISITOR, TS, NONCE)
    assert len(token) == TOKEN_CHARS == 59
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_minting_is_deterministic_and_depends_on_every_field() -> None:
    base = mint_click_id(RING, VISITOR, TS, NONCE)
    assert mint_click_id(RING, VISITOR, TS, NONCE) == base
    assert mint_click_id(RING, uuid.UUID(int=1), TS, NONCE) != base
    assert mint_click_id(RING, VISITOR, TS + 1, NONCE) != base
    assert mint_click_id(RING, VISITOR, TS, b"\x00" * 8) != base
    assert mint_click_id(SecretRing.of([(7, SECRET_B)]), VISITOR, TS, NONCE) != base


@given(
    visitor=st.uuids(),
    ts=st.integers(min_value=0, max_value=(1 << 48) - 1),
    nonce=st.binary(min_size=8, max_size=8),
)
def test_round_trip_property(visitor: uuid.UUID, ts: int, nonce: bytes) -> None:
    claims = verify_click_id(RING, mint_click_id(RING, visitor, ts, nonce), ts, 1)
    assert (claims.visitor_id, claims.ts_ms, claims.nonce) == (visitor, ts, nonce)


def _raw(token: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(token + "="))


def _enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("offset", range(PAYLOAD_BYTES + MAC_BYTES))
def test_flipping_any_bit_is_refused(offset: int) -> None:
    raw = _raw(mint_click_id(RING, VISITOR, TS, NONCE))
    raw[offset] ^= 0x01
    expected = {0: "click_id_malformed", 1: "click_id_unknown_key"}.get(offset, "click_id_tampered")
    assert _reason(RING, _enc(bytes(raw))) == expected


def test_forged_signature_with_another_secret_is_tampered() -> None:
    forged = mint_click_id(SecretRing.of([(7, SECRET_B)]), VISITOR, TS, NONCE)
    assert _reason(RING, forged) == "click_id_tampered"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "A" * (TOKEN_CHARS - 1),
        "A" * (TOKEN_CHARS + 1),
        "A" * (TOKEN_CHARS - 1) + "=",
        "A" * (TOKEN_CHARS - 1) + "+",
        "A" * (TOKEN_CHARS - 1) + "/",
        " " + "A" * (TOKEN_CHARS - 1),
        "A" * (TOKEN_CHARS - 1) + "\n",
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert _reason(RING, token) == "click_id_malformed"


def test_non_canonical_last_character_is_malformed() -> None:
    token = mint_click_id(RING, VISITOR, TS, NONCE)
    # 44 bytes leave 4 unused low bits in the 59th character; set one of them.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(token[-1])
    other = alphabet[last | 0b0001]
    assert other != token[-1]
    assert _reason(RING, token[:-1] + other) == "click_id_malformed"


def test_unsupported_version_is_malformed() -> None:
    raw = _raw(mint_click_id(RING, VISITOR, TS, NONCE))
    raw[0] = 2
    assert _reason(RING, _enc(bytes(raw))) == "click_id_malformed"


def test_rotation_first_key_signs_all_keys_verify() -> None:
    old_ring = SecretRing.of([(1, SECRET_A)])
    new_ring = SecretRing.of([(2, SECRET_B), (1, SECRET_A)])
    old_token = mint_click_id(old_ring, VISITOR, TS, NONCE)
    new_token = mint_click_id(new_ring, VISITOR, TS, NONCE)
    assert verify_click_id(new_ring, old_token, TS, DAY_MS).key_id == 1
    assert verify_click_id(new_ring, new_token, TS, DAY_MS).key_id == 2
    assert _reason(old_ring, new_token) == "click_id_unknown_key"
    retired = SecretRing.of([(2, SECRET_B)])
    assert _reason(retired, old_token) == "click_id_unknown_key"


def test_expiry_boundary() -> None:
    token = mint_click_id(RING, VISITOR, TS, NONCE)
    assert verify_click_id(RING, token, TS + DAY_MS, DAY_MS).ts_ms == TS
    assert _reason(RING, token, now_ms=TS + DAY_MS + 1) == "click_id_expired"


def test_future_beyond_skew_is_refused() -> None:
    token = mint_click_id(RING, VISITOR, TS, NONCE)
    assert verify_click_id(RING, token, TS - 1000, DAY_MS, max_skew_ms=1000).ts_ms == TS
    with pytest.raises(InvalidClickId) as info:
        verify_click_id(RING, token, TS - 1001, DAY_MS, max_skew_ms=1000)
    assert info.value.reason == "click_id_from_future"


def test_time_is_checked_only_after_the_signature() -> None:
    raw = _raw(mint_click_id(RING, VISITOR, TS, NONCE))
    raw[2:8] = (0).to_bytes(6, "big")  # an ancient timestamp with the old signature
    assert _reason(RING, _enc(bytes(raw))) == "click_id_tampered"


def test_event_id_is_a_uuid7_from_time_and_nonce() -> None:
    claims = verify_click_id(RING, mint_click_id(RING, VISITOR, TS, NONCE), TS, DAY_MS)
    event_id = claims.event_id
    assert event_id.version == 7
    assert event_id.variant == uuid.RFC_4122
    assert event_id.int >> 80 == TS
    assert event_id == event_id_for_click(TS, NONCE)
    assert event_id_for_click(TS, b"\x00" * 7 + b"\x01") != event_id_for_click(TS, b"\x00" * 8)
    assert event_id_for_click(TS, NONCE) < event_id_for_click(TS + 1, NONCE)


@given(nonce=st.binary(min_size=8, max_size=8))
def test_event_id_keeps_all_nonce_bits(nonce: bytes) -> None:
    value = event_id_for_click(TS, nonce).int
    rand_a = (value >> 64) & 0xFFF
    rand_b = value & ((1 << 62) - 1)
    assert (rand_a << 52) | rand_b == int.from_bytes(nonce, "big")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "at least one"),
        ([(1, b"short")], "shorter than"),
        ([(256, SECRET_A)], "outside"),
        ([(1, SECRET_A), (1, SECRET_B)], "twice"),
    ],
)
def test_bad_rings_are_refused(keys: list[tuple[int, bytes]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SecretRing.of(keys)


def test_ring_parse_and_repr_hides_secrets() -> None:
    ring = SecretRing.parse("3:" + "n" * 20 + ", 2:" + "o" * 20)
    assert ring.signing_key_id == 3
    assert ring.secret(2) == b"o" * 20
    assert "nnnn" not in repr(ring)
    assert "oooo" not in repr(ring)
    with pytest.raises(ValueError, match="key id"):
        SecretRing.parse("nocolon")


@pytest.mark.parametrize(("ts", "nonce"), [(-1, NONCE), (1 << 48, NONCE), (TS, b"1234567")])
def test_mint_refuses_out_of_range_inputs(ts: int, nonce: bytes) -> None:
    with pytest.raises(ValueError, match=r"48 bits|nonce must be"):
        mint_click_id(RING, VISITOR, ts, nonce)

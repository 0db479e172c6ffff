"""AdAttributionKit postbacks: Apple's sample, sandbox vs production keys, tampering."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from apple_vectors import AAK_DIR, TestSigner, load_json, require

from tracker.apple import (
    AakPostback,
    PostbackMalformed,
    SignatureInvalid,
    parse_aak_postback,
    verify_aak_postback,
)

SAMPLE = AAK_DIR / "aak-dev-identifier-1-apple-doc.json"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def sample() -> dict[str, Any]:
    return load_json(require(SAMPLE))


def with_jws(envelope: dict[str, Any], jws: str) -> dict[str, Any]:
    return {**envelope, "jws-string": jws}


PAYLOAD = {
    "postback-identifier": "3f50fe57-29ae-4861-8c0b-ac6adddff72c",
    "ad-network-identifier": "example123.adattributionkit",
    "source-identifier": "8344",
    "advertised-item-identifier": 684939,
    "impression-type": "app-impression",
    "conversion-type": "download",
    "did-win": True,
    "postback-sequence-index": 1,
}
PRODUCTION = {"kid": "apple-cas-identifier/0", "alg": "ES256"}
KID_HEADER = b64url(json.dumps(PRODUCTION).encode())


# --- Apple's documented sample -------------------------------------------------------------


def test_sample_verifies_in_sandbox() -> None:
    postback = verify_aak_postback(require(SAMPLE).read_bytes(), allow_development_keys=True)
    assert postback == AakPostback(
        postback_identifier="85546EB7-FD39-44BC-8990-C98A4AC36A49",
        ad_network_identifier="development.adattributionkit",
        source_identifier="1234",
        advertised_item_identifier=10738027756,
        impression_type="app-impression",
        conversion_type="re-engagement",
        did_win=True,
        postback_sequence_index=0,
        publisher_item_identifier=0,
        marketplace_identifier="com.apple.AppStore",
        conversion_value=24,
        coarse_conversion_value=None,
        ad_interaction_type="click",
        country_code="US",
        kid="apple-development-identifier/1",
    )
    assert postback.dedup_key == "85546EB7-FD39-44BC-8990-C98A4AC36A49"


def test_sample_is_refused_in_production_naming_the_kid() -> None:
    with pytest.raises(SignatureInvalid) as caught:
        verify_aak_postback(sample())
    assert caught.value.reason == "aak_key_untrusted"
    assert "apple-development-identifier/1" in caught.value.message
    assert "sandbox" in caught.value.message


def test_tampered_payload_is_refused() -> None:
    envelope = sample()
    header, payload, signature = envelope["jws-string"].split(".")
    claims = json.loads(unb64url(payload))
    claims["source-identifier"] = "9999"
    forged = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(SignatureInvalid) as caught:
        verify_aak_postback(with_jws(envelope, forged), allow_development_keys=True)
    assert caught.value.reason == "aak_signature_invalid"


def test_flipped_signature_bit_is_refused() -> None:
    envelope = sample()
    header, payload, signature = envelope["jws-string"].split(".")
    raw = bytearray(unb64url(signature))
    raw[10] ^= 0x01
    forged = f"{header}.{payload}.{b64url(bytes(raw))}"
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify_aak_postback(with_jws(envelope, forged), allow_development_keys=True)


def test_unsigned_envelope_fields_may_change() -> None:
    envelope = {
        **sample(),
        "conversion-value": 63,
        "coarse-conversion-value": "low",
        "country-code": "FR",
        "ad-interaction-type": "view",
    }
    postback = verify_aak_postback(envelope, allow_development_keys=True)
    assert (
        postback.conversion_value,
        postback.coarse_conversion_value,
        postback.country_code,
        postback.ad_interaction_type,
    ) == (63, "low", "FR", "view")


@pytest.mark.parametrize("alg", ["none", "HS256", "ES384", "RS256", None])
def test_algorithm_other_than_es256_is_refused(alg: str | None) -> None:
    envelope = sample()
    _, payload, signature = envelope["jws-string"].split(".")
    header = {"kid": "apple-development-identifier/1", "alg": alg}
    forged = f"{b64url(json.dumps(header).encode())}.{payload}.{signature}"
    with pytest.raises(SignatureInvalid) as caught:
        verify_aak_postback(with_jws(envelope, forged), allow_development_keys=True)
    assert caught.value.reason == "aak_algorithm_unsupported"


def test_parse_without_verifying_reads_the_sample() -> None:
    assert parse_aak_postback(json.dumps(sample())).postback_identifier == (
        "85546EB7-FD39-44BC-8990-C98A4AC36A49"
    )


# --- production and development keys (locally generated stand-ins) ------------------------


def test_production_kid_verifies_without_sandbox(signer: TestSigner) -> None:
    jws = signer.jws(signer.aak_production, PRODUCTION, PAYLOAD)
    postback = verify_aak_postback({"jws-string": jws, "conversion-value": 3}, signer.keys)
    assert postback.kid == "apple-cas-identifier/0"
    assert postback.publisher_item_identifier is None  # withheld at low tiers
    assert postback.marketplace_identifier is None
    assert postback.conversion_value == 3


def test_development_kid_needs_sandbox(signer: TestSigner) -> None:
    header = {"kid": "apple-development-identifier/0", "alg": "ES256"}
    body = {"jws-string": signer.jws(signer.aak_development, header, PAYLOAD)}
    assert verify_aak_postback(body, signer.keys, allow_development_keys=True).did_win
    with pytest.raises(SignatureInvalid, match="trusted only in sandbox"):
        verify_aak_postback(body, signer.keys)


def test_unknown_kid_is_untrusted_even_in_sandbox(signer: TestSigner) -> None:
    header = {"kid": "apple-cas-identifier/9", "alg": "ES256"}
    body = {"jws-string": signer.jws(signer.aak_production, header, PAYLOAD)}
    with pytest.raises(SignatureInvalid, match="not one of Apple's key ids") as caught:
        verify_aak_postback(body, signer.keys, allow_development_keys=True)
    assert caught.value.reason == "aak_key_untrusted"


def test_signature_by_another_key_under_a_trusted_kid_is_refused(signer: TestSigner) -> None:
    body = {"jws-string": signer.jws(signer.aak_development, PRODUCTION, PAYLOAD)}
    with pytest.raises(SignatureInvalid) as caught:
        verify_aak_postback(body, signer.keys)
    assert caught.value.reason == "aak_signature_invalid"


def test_der_signature_instead_of_raw_is_refused(signer: TestSigner) -> None:
    jws = signer.jws(signer.aak_production, PRODUCTION, PAYLOAD)
    header, payload, _ = jws.split(".")
    der = base64.b64decode(signer.der_b64(signer.aak_production, f"{header}.{payload}".encode()))
    body = {"jws-string": f"{header}.{payload}.{b64url(der)}"}
    with pytest.raises(SignatureInvalid, match="64 bytes"):
        verify_aak_postback(body, signer.keys)


# --- malformed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("postback-identifier", None, "missing"),
        ("did-win", "true", "expected true or false"),
        ("postback-sequence-index", 3, "out of range"),
        ("advertised-item-identifier", "684939", "expected an integer"),
        ("conversion-type", "install", "is not one of"),
        ("source-identifier", 8344, "expected a string"),
    ],
)
def test_signed_but_malformed_payload_names_the_field(
    signer: TestSigner, field: str, value: object, message: str
) -> None:
    payload = {k: v for k, v in PAYLOAD.items() if k != field}
    if value is not None:
        payload[field] = value
    body = {"jws-string": signer.jws(signer.aak_production, PRODUCTION, payload)}
    with pytest.raises(PostbackMalformed, match=message) as caught:
        verify_aak_postback(body, signer.keys)
    assert caught.value.field == field
    assert caught.value.reason == "aak_postback_malformed"


@pytest.mark.parametrize(
    ("envelope", "field", "message"),
    [
        ({}, "jws-string", "missing"),
        ({"jws-string": 12}, "jws-string", "expected a string"),
        ({"jws-string": "only.two"}, "jws-string", "header.payload.signature"),
        ({"jws-string": "a.b.c.d"}, "jws-string", "header.payload.signature"),
        ({"jws-string": f"{KID_HEADER}.e30.x==="}, "jws-string", "unpadded base64url"),
        ({"jws-string": f"{KID_HEADER}.e3+0.AA"}, "jws-string", "unpadded base64url"),
        ({"jws-string": f"{KID_HEADER}.e30.A"}, "jws-string", "not base64url"),
        ({"jws-string": f"{b64url(b'not json')}.e30.AA"}, "jws-string", "header is not JSON"),
        ({"jws-string": f"{b64url(b'[1]')}.e30.AA"}, "jws-string", "not a JSON object"),
        ({"jws-string": "e30.e30.AA"}, "kid", "missing"),
    ],
)
def test_malformed_envelope_or_jws(envelope: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(PostbackMalformed, match=message) as caught:
        verify_aak_postback(envelope, allow_development_keys=True)
    assert caught.value.field == field


def test_unsigned_envelope_field_with_a_bad_value_is_malformed(signer: TestSigner) -> None:
    body = {
        "jws-string": signer.jws(signer.aak_production, PRODUCTION, PAYLOAD),
        "coarse-conversion-value": "enormous",
    }
    with pytest.raises(PostbackMalformed) as caught:
        verify_aak_postback(body, signer.keys)
    assert caught.value.field == "coarse-conversion-value"


def test_body_that_is_not_json_is_malformed() -> None:
    with pytest.raises(PostbackMalformed, match="body is not JSON"):
        verify_aak_postback(b"{jws-string: nope}")

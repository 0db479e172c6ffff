"""SKAdNetwork postbacks: Apple's documented examples, tampering, malformed input, keys."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from apple_vectors import SKAN_DIR, TestSigner, data_files, load_json, require

from tracker.apple import (
    PostbackMalformed,
    SignatureInvalid,
    SkanPostback,
    UnsupportedVersion,
    parse_skan_postback,
    verify_skan_postback,
)

SEP = "\u2063"
VALID_4_0 = SKAN_DIR / "valid" / "skan-4.0-webad-tier-low-coarse-apple-doc.json"
VALID_3_0 = SKAN_DIR / "valid" / "skan-3.0-win-apple-doc.json"
VALID_2_1 = SKAN_DIR / "valid" / "skan-2.1-apple-legacy-doc.json"

# Fields each version signs, per Apple's documentation (written out here independently of
# the code under test). Unsigned: conversion-value, coarse-conversion-value.
SIGNED_FIELDS = {
    "2.0": [
        "version",
        "ad-network-id",
        "campaign-id",
        "app-id",
        "transaction-id",
        "redownload",
        "source-app-id",
    ],
    "2.1": [
        "version",
        "ad-network-id",
        "campaign-id",
        "app-id",
        "transaction-id",
        "redownload",
        "source-app-id",
    ],
    "2.2": [
        "version",
        "ad-network-id",
        "campaign-id",
        "app-id",
        "transaction-id",
        "redownload",
        "source-app-id",
        "fidelity-type",
    ],
    "3.0": [
        "version",
        "ad-network-id",
        "campaign-id",
        "app-id",
        "transaction-id",
        "redownload",
        "source-app-id",
        "fidelity-type",
        "did-win",
    ],
    "4.0": [
        "version",
        "ad-network-id",
        "source-identifier",
        "app-id",
        "transaction-id",
        "redownload",
        "source-app-id",
        "source-domain",
        "fidelity-type",
        "did-win",
        "postback-sequence-index",
    ],
}


def signed_string(data: dict[str, Any]) -> bytes:
    def text(value: object) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    names = SIGNED_FIELDS[data["version"]]
    return SEP.join(text(data[name]) for name in names if name in data).encode()


def tampered(value: object) -> object:
    """A different value of the same JSON type, still in the field's valid range."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return 1 - value if value in (0, 1) else value + 1  # keeps 0..1 and 0..2 ranges valid
    assert isinstance(value, str)
    if value[-1].isdigit():  # keeps digit-only identifiers digit-only
        return value[:-1] + ("1" if value[-1] != "1" else "2")
    return value + "x"


# --- Apple's documented examples ------------------------------------------------------------


@pytest.mark.parametrize("path", data_files(SKAN_DIR / "valid"))
def test_every_valid_vector_verifies(path: Path) -> None:
    body = path.read_bytes()
    postback = verify_skan_postback(body)
    data = load_json(path)
    assert postback.version == data["version"]
    assert postback.transaction_id == data["transaction-id"]
    assert postback.app_id == data["app-id"]
    assert postback.signed_message() == signed_string(data)


@pytest.mark.parametrize("path", data_files(SKAN_DIR / "invalid"))
def test_every_invalid_vector_is_rejected_with_a_reason(path: Path) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        verify_skan_postback(path.read_bytes())
    assert caught.value.reason == "skan_signature_invalid"
    assert "attribution-signature" in caught.value.message


def test_invalid_vector_says_its_signature_is_not_der() -> None:
    path = require(SKAN_DIR / "invalid" / "skan-4.0-bad-signature-whisk.json")
    with pytest.raises(SignatureInvalid, match="not a DER-encoded ECDSA signature"):
        verify_skan_postback(path.read_bytes())


def test_4_0_web_ad_fields_and_dedup_key() -> None:
    postback = verify_skan_postback(require(VALID_4_0).read_text())
    assert postback == SkanPostback(
        version="4.0",
        ad_network_id="com.example",
        source_identifier="39",
        campaign_id=None,
        app_id=525463029,
        transaction_id="6aafb7a5-0170-41b5-bbe4-fe71dedf1e31",
        redownload=False,
        source_app_id=None,
        source_domain="example.com",
        fidelity_type=1,
        did_win=True,
        postback_sequence_index=0,
        conversion_value=None,
        coarse_conversion_value="high",
        attribution_signature=postback.attribution_signature,
    )
    assert postback.dedup_key == "6aafb7a5-0170-41b5-bbe4-fe71dedf1e31:0"
    assert (
        postback.signed_message()
        == SEP.join(
            [
                "4.0",
                "com.example",
                "39",
                "525463029",
                "6aafb7a5-0170-41b5-bbe4-fe71dedf1e31",
                "false",
                "example.com",
                "1",
                "true",
                "0",
            ]
        ).encode()
    )


def test_3_0_normalises_campaign_id_to_source_identifier() -> None:
    postback = verify_skan_postback(load_json(require(VALID_3_0)))
    assert (postback.campaign_id, postback.source_identifier) == (42, "42")
    assert (postback.did_win, postback.fidelity_type, postback.source_app_id) == (
        True,
        1,
        1234567891,
    )
    assert postback.postback_sequence_index is None
    assert postback.conversion_value == 20
    assert postback.dedup_key == "6aafb7a5-0170-41b5-bbe4-fe71dedf1e28"


def test_2_1_has_neither_fidelity_type_nor_did_win() -> None:
    postback = verify_skan_postback(load_json(require(VALID_2_1)))
    assert (postback.fidelity_type, postback.did_win) == (None, None)
    assert postback.signed_message().count(SEP.encode()) == 6  # seven values


# --- tampering ---------------------------------------------------------------------------


def _tamper_cases() -> list[Any]:
    cases = []
    for param in data_files(SKAN_DIR / "valid"):
        path = param.values[0]
        if path is None:  # vectors absent: one skipped case with both parameters
            return [pytest.param(None, None, marks=param.marks, id="absent")]
        data = load_json(path)
        for name in SIGNED_FIELDS[data["version"]]:
            if name in data and name != "version":
                cases.append(pytest.param(path, name, id=f"{path.stem}-{name}"))
    return cases


@pytest.mark.parametrize(("path", "field"), _tamper_cases())
def test_changing_any_signed_field_breaks_the_signature(path: Path, field: str) -> None:
    data = load_json(path)
    data[field] = tampered(data[field])
    parse_skan_postback(data)  # still well-formed: only the signature can catch it
    with pytest.raises(SignatureInvalid) as caught:
        verify_skan_postback(data)
    assert caught.value.reason == "skan_signature_invalid"


@pytest.mark.parametrize("path", data_files(SKAN_DIR / "valid"))
def test_changing_unsigned_conversion_values_still_verifies(path: Path) -> None:
    data = load_json(path)
    data["conversion-value"] = 63 - data.get("conversion-value", 0)
    if data["version"] == "4.0":
        data["coarse-conversion-value"] = "low"
    postback = verify_skan_postback(data)
    assert postback.conversion_value == data["conversion-value"]


def test_dropping_signed_source_app_id_breaks_the_signature() -> None:
    data = load_json(require(VALID_3_0))
    del data["source-app-id"]
    with pytest.raises(SignatureInvalid):
        verify_skan_postback(data)


def test_changed_version_is_caught() -> None:
    data = load_json(require(VALID_2_1))
    data["version"] = "2.0"  # the P-192 key's version: the P-256 signature cannot match
    with pytest.raises(SignatureInvalid, match="secp192r1"):
        verify_skan_postback(data)


# --- malformed input ---------------------------------------------------------------------

REQUIRED = {
    "2.1": [
        "version",
        "ad-network-id",
        "campaign-id",
        "app-id",
        "transaction-id",
        "redownload",
        "attribution-signature",
    ],
    "3.0": ["fidelity-type", "did-win"],
    "4.0": [
        "source-identifier",
        "fidelity-type",
        "did-win",
        "postback-sequence-index",
        "app-id",
        "attribution-signature",
    ],
}


def _missing_cases() -> list[Any]:
    paths = {"2.1": VALID_2_1, "3.0": VALID_3_0, "4.0": VALID_4_0}
    return [
        pytest.param(paths[v], name, id=f"{v}-{name}")
        for v, names in REQUIRED.items()
        for name in names
    ]


@pytest.mark.parametrize(("path", "field"), _missing_cases())
def test_missing_field_is_malformed_and_named(path: Path, field: str) -> None:
    data = load_json(require(path))
    del data[field]
    with pytest.raises(PostbackMalformed) as caught:
        verify_skan_postback(data)
    assert caught.value.field == field
    assert caught.value.reason == "skan_postback_malformed"
    assert field in caught.value.message


WRONG_VALUES = [
    (VALID_3_0, "campaign-id", "42", "expected an integer"),
    (VALID_3_0, "app-id", True, "expected an integer"),
    (VALID_3_0, "redownload", "true", "expected true or false"),
    (VALID_3_0, "did-win", 1, "expected true or false"),
    (VALID_3_0, "transaction-id", 123, "expected a string"),
    (VALID_3_0, "conversion-value", 64, "out of range"),
    (VALID_3_0, "conversion-value", 20.5, "expected an integer"),
    (VALID_3_0, "fidelity-type", 2, "out of range"),
    (VALID_4_0, "postback-sequence-index", 3, "out of range"),
    (VALID_4_0, "source-identifier", 39, "expected a string"),
    (VALID_4_0, "source-identifier", "12345", "not 2 to 4 digits"),
    (VALID_4_0, "source-identifier", "3a", "not 2 to 4 digits"),
    (VALID_4_0, "coarse-conversion-value", "huge", "is not one of"),
    (VALID_4_0, "ad-network-id", "  ", "empty"),
    (VALID_4_0, "source-app-id", 1234567891, "not both"),
]


@pytest.mark.parametrize(
    ("path", "field", "value", "message"),
    WRONG_VALUES,
    ids=[f"{f}={v!r}" for _, f, v, _ in WRONG_VALUES],
)
def test_wrong_type_or_range_is_malformed(
    path: Path, field: str, value: object, message: str
) -> None:
    data = load_json(require(path))
    data[field] = value
    with pytest.raises(PostbackMalformed, match=message) as caught:
        parse_skan_postback(data)
    expected = "source-domain" if message == "not both" else field
    assert caught.value.field == expected


@pytest.mark.parametrize("version", ["1.0", "5.0", "4", "2.3"])
def test_unsupported_versions_are_refused(version: str) -> None:
    data = load_json(require(VALID_3_0))
    data["version"] = version
    with pytest.raises(UnsupportedVersion, match=version) as caught:
        parse_skan_postback(data)
    assert caught.value.reason == "skan_version_unsupported"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", '"text"', b"\xff\xfe"])
def test_body_that_is_not_a_json_object_is_malformed(body: bytes | str) -> None:
    with pytest.raises(PostbackMalformed, match="body is not"):
        parse_skan_postback(body)


def test_signature_that_is_not_base64_is_invalid() -> None:
    data = load_json(require(VALID_3_0))
    data["attribution-signature"] = "not base64 !!"
    with pytest.raises(SignatureInvalid, match="not base64"):
        verify_skan_postback(data)


# --- key selection, with locally generated keys -------------------------------------------


def _signed(signer: TestSigner, data: dict[str, Any], curve: int) -> dict[str, Any]:
    key = signer.p192 if curve == 192 else signer.p256
    signed = copy.deepcopy(data)
    signed["attribution-signature"] = signer.der_b64(key, signed_string(data))
    return signed


V2_0 = {
    "version": "2.0",
    "ad-network-id": "example123.skadnetwork",
    "campaign-id": 7,
    "app-id": 525463029,
    "transaction-id": "f9ac267a-a889-44ce-b5f7-0166d11461f0",
    "redownload": False,
    "source-app-id": 1234567891,
    "conversion-value": 5,
}


def test_2_0_is_verified_with_the_p192_key(signer: TestSigner) -> None:
    postback = verify_skan_postback(_signed(signer, V2_0, 192), signer.keys)
    assert postback.source_identifier == "7"


def test_2_0_signed_with_the_p256_key_is_refused(signer: TestSigner) -> None:
    with pytest.raises(SignatureInvalid, match="secp192r1"):
        verify_skan_postback(_signed(signer, V2_0, 256), signer.keys)


def test_4_0_app_source_later_window_verifies_and_dedups_per_window(signer: TestSigner) -> None:
    data = {
        "version": "4.0",
        "ad-network-id": "example123.skadnetwork",
        "source-identifier": "5239",
        "app-id": 525463029,
        "transaction-id": "6aafb7a5-0170-41b5-bbe4-fe71dedf1e30",
        "redownload": True,
        "source-app-id": 1234567891,
        "fidelity-type": 1,
        "did-win": True,
        "postback-sequence-index": 2,
        "coarse-conversion-value": "medium",
    }
    second = verify_skan_postback(json.dumps(_signed(signer, data, 256)), signer.keys)
    first = verify_skan_postback(
        _signed(signer, {**data, "postback-sequence-index": 0, "conversion-value": 9}, 256),
        signer.keys,
    )
    assert second.dedup_key == "6aafb7a5-0170-41b5-bbe4-fe71dedf1e30:2"
    assert first.dedup_key != second.dedup_key
    assert (second.conversion_value, second.coarse_conversion_value) == (None, "medium")
    assert first.conversion_value == 9


def test_apple_doc_postback_does_not_verify_with_other_keys(signer: TestSigner) -> None:
    with pytest.raises(SignatureInvalid):
        verify_skan_postback(load_json(require(VALID_3_0)), signer.keys)

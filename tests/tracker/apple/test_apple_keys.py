"""Apple's keys as data: the shipped copy, the loader's checks, trust by key id."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from apple_vectors import SKAN_DIR, TestSigner, require
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tracker.apple import AppleKeysInvalid, default_apple_keys, load_apple_keys
from tracker.apple.keys import load_apple_keys_json


def der_b64(key: ec.EllipticCurvePrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(raw).decode()


def document(signer: TestSigner) -> dict[str, Any]:
    return {
        "skadnetwork": {
            "1.0_and_2.0_P192": der_b64(signer.p192),
            "2.1_and_later_P256": der_b64(signer.p256),
        },
        "adattributionkit_jws_kid": {"apple-cas-identifier/0": der_b64(signer.aak_production)},
    }


def test_shipped_keys_have_the_right_curves_and_kids() -> None:
    keys = default_apple_keys()
    assert isinstance(keys.skan_p192.curve, ec.SECP192R1)
    assert isinstance(keys.skan_p256.curve, ec.SECP256R1)
    assert sorted(keys.aak_by_kid) == [
        "apple-cas-identifier/0",
        "apple-development-identifier/0",
        "apple-development-identifier/1",
    ]
    assert keys.skan_key_for("2.0") is keys.skan_p192
    assert keys.skan_key_for("2.1") is keys.skan_p256
    assert keys.skan_key_for("4.0") is keys.skan_p256


def test_shipped_keys_match_the_test_data_copy() -> None:
    shared = json.loads(require(SKAN_DIR / "apple_public_keys.json").read_text())
    assert load_apple_keys(shared) == default_apple_keys()


def test_production_trusts_only_the_production_kid() -> None:
    keys = default_apple_keys()
    assert keys.aak_key_for("apple-cas-identifier/0", allow_development_keys=False)
    for kid in ("apple-development-identifier/0", "apple-development-identifier/1"):
        assert keys.aak_key_for(kid, allow_development_keys=False) is None
        assert keys.aak_key_for(kid, allow_development_keys=True) is not None
    assert keys.aak_key_for("apple-cas-identifier/1", allow_development_keys=True) is None


def test_loader_accepts_a_rotated_document(signer: TestSigner) -> None:
    keys = load_apple_keys_json(json.dumps(document(signer)))
    assert keys.skan_p256 == signer.p256.public_key()
    assert list(keys.aak_by_kid) == ["apple-cas-identifier/0"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("skadnetwork"), "skadnetwork: expected an object"),
        (lambda d: d["skadnetwork"].pop("2.1_and_later_P256"), "2.1_and_later_P256"),
        (lambda d: d["skadnetwork"].update({"1.0_and_2.0_P192": "%%%"}), "not a base64 DER"),
        (
            lambda d: d["skadnetwork"].update(
                {"1.0_and_2.0_P192": d["skadnetwork"]["2.1_and_later_P256"]}
            ),
            "secp192r1",
        ),
        (lambda d: d["adattributionkit_jws_kid"].update({"k": 5}), "expected a base64 string"),
    ],
    ids=["no-skan", "no-p256", "bad-base64", "wrong-curve", "not-a-string"],
)
def test_loader_names_what_is_wrong(signer: TestSigner, change: Any, message: str) -> None:
    data = document(signer)
    change(data)
    with pytest.raises(AppleKeysInvalid, match=message):
        load_apple_keys(data)


@pytest.mark.parametrize("text", ["not json", "[]"])
def test_loader_refuses_non_objects(text: str) -> None:
    with pytest.raises(AppleKeysInvalid):
        load_apple_keys_json(text)

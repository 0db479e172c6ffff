"""Shared test data locations and signing helpers for the Apple postback tests.

The Apple vectors live outside the repository, in ``../shared/testdata`` next to it
(``/work/main/tests/...`` -> ``/work/shared/testdata``). Tests that need them skip, saying
so, when that folder is absent.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tracker.apple.keys import AppleKeys

TESTDATA = Path(__file__).resolve().parents[3].parent / "shared" / "testdata"
SKAN_DIR = TESTDATA / "skan"
AAK_DIR = TESTDATA / "aak"
ABSENT = f"Apple test vectors not found: {TESTDATA} is absent (expected ../shared/testdata)"


def data_files(folder: Path) -> list[Any]:
    """The JSON files of ``folder`` as parameters, or one skipped parameter if it is absent."""
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT), id="absent")]
    files = sorted(folder.glob("*.json"))
    assert files, f"{folder} holds no JSON file"
    return [pytest.param(path, id=path.stem) for path in files]


def load_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(ABSENT)
    return path


class TestSigner:
    """Locally generated keys standing in for Apple's, to sign postbacks the tests build."""

    __test__ = False

    def __init__(self) -> None:
        self.p192 = ec.generate_private_key(ec.SECP192R1())
        self.p256 = ec.generate_private_key(ec.SECP256R1())
        self.aak_production = ec.generate_private_key(ec.SECP256R1())
        self.aak_development = ec.generate_private_key(ec.SECP256R1())
        self.keys = AppleKeys(
            skan_p192=self.p192.public_key(),
            skan_p256=self.p256.public_key(),
            aak_by_kid=MappingProxyType(
                {
                    "apple-cas-identifier/0": self.aak_production.public_key(),
                    "apple-development-identifier/0": self.aak_development.public_key(),
                }
            ),
        )

    @staticmethod
    def der_b64(key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
        return base64.b64encode(key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()

    @staticmethod
    def jws(
        key: ec.EllipticCurvePrivateKey, header: dict[str, Any], payload: dict[str, Any]
    ) -> str:
        def seg(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        signing_input = f"{seg(json.dumps(header).encode())}.{seg(json.dumps(payload).encode())}"
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{seg(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

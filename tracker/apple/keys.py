"""Apple's published postback verification keys, as data.

The keys come from a JSON document shaped like ``apple_public_keys.json`` (shipped in this
package, copied from developer.apple.com)::

    {
      "skadnetwork": {"1.0_and_2.0_P192": "<b64 DER SPKI>", "2.1_and_later_P256": "..."},
      "adattributionkit_jws_kid": {"apple-cas-identifier/0": "...",
                                   "apple-development-identifier/0": "...", ...}
    }

``load_apple_keys`` turns that shape into an ``AppleKeys`` value; the verifiers take the value
as an argument, so tests (and a key rotation) pass their own. ``default_apple_keys`` reads the
shipped copy once.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from tracker.apple.errors import AppleKeysInvalid

SKAN_P192_NAME = "1.0_and_2.0_P192"
SKAN_P256_NAME = "2.1_and_later_P256"
# Key ids whose name starts with this prefix sign sandbox (development-mode) postbacks only.
DEVELOPMENT_KID_PREFIX = "apple-development-identifier/"
# SKAdNetwork versions signed with the P-192 key; every later version uses P-256.
P192_VERSIONS = frozenset({"1.0", "2.0"})


@dataclass(frozen=True, slots=True)
class AppleKeys:
    """Apple's verification keys: SKAdNetwork P-192 and P-256, and AdAttributionKit by kid."""

    skan_p192: ec.EllipticCurvePublicKey
    skan_p256: ec.EllipticCurvePublicKey
    aak_by_kid: Mapping[str, ec.EllipticCurvePublicKey] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def skan_key_for(self, version: str) -> ec.EllipticCurvePublicKey:
        """The key that signs SKAdNetwork postbacks of ``version`` (P-192 for 1.0 / 2.0)."""
        return self.skan_p192 if version in P192_VERSIONS else self.skan_p256

    def aak_key_for(
        self, kid: str, *, allow_development_keys: bool
    ) -> ec.EllipticCurvePublicKey | None:
        """The AdAttributionKit key for ``kid``, or None when it is unknown or not trusted.

        Production trusts only Apple's production ids (``apple-cas-identifier/N``); the
        ``apple-development-identifier/N`` keys are trusted only in sandbox mode.
        """
        if kid.startswith(DEVELOPMENT_KID_PREFIX) and not allow_development_keys:
            return None
        return self.aak_by_kid.get(kid)


def _public_key(
    b64_der: object, path: str, curve: type[ec.EllipticCurve]
) -> ec.EllipticCurvePublicKey:
    if not isinstance(b64_der, str):
        raise AppleKeysInvalid(f"{path}: expected a base64 string")
    try:
        der = base64.b64decode(b64_der, validate=True)
        key = load_der_public_key(der)
    except (binascii.Error, ValueError) as exc:
        raise AppleKeysInvalid(f"{path}: not a base64 DER public key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
        raise AppleKeysInvalid(f"{path}: expected an EC key on {curve.name}")
    return key


def _section(data: Mapping[str, object], name: str) -> Mapping[str, object]:
    section = data.get(name)
    if not isinstance(section, Mapping):
        raise AppleKeysInvalid(f"{name}: expected an object")
    return section


def load_apple_keys(data: Mapping[str, object]) -> AppleKeys:
    """Build ``AppleKeys`` from the parsed JSON shape of ``apple_public_keys.json``."""
    skan = _section(data, "skadnetwork")
    aak = _section(data, "adattributionkit_jws_kid")
    aak_keys = {
        kid: _public_key(value, f"adattributionkit_jws_kid.{kid}", ec.SECP256R1)
        for kid, value in aak.items()
    }
    return AppleKeys(
        skan_p192=_public_key(
            skan.get(SKAN_P192_NAME), f"skadnetwork.{SKAN_P192_NAME}", ec.SECP192R1
        ),
        skan_p256=_public_key(
            skan.get(SKAN_P256_NAME), f"skadnetwork.{SKAN_P256_NAME}", ec.SECP256R1
        ),
        aak_by_kid=MappingProxyType(aak_keys),
    )


def load_apple_keys_json(text: str | bytes) -> AppleKeys:
    """Build ``AppleKeys`` from the text of a keys document."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AppleKeysInvalid(f"keys document is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise AppleKeysInvalid("keys document: expected a JSON object")
    return load_apple_keys(data)


@functools.cache
def default_apple_keys() -> AppleKeys:
    """The keys shipped with this package (``tracker/apple/apple_public_keys.json``)."""
    text = resources.files("tracker.apple").joinpath("apple_public_keys.json").read_bytes()
    return load_apple_keys_json(text)

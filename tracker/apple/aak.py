"""AdAttributionKit postbacks: parse the JSON envelope and verify Apple's compact JWS.

Apple posts ``{"jws-string": "<header>.<payload>.<signature>", "conversion-value": 24,
"coarse-conversion-value": "high", "ad-interaction-type": "click", "country-code": "US"}``
to ``/.well-known/appattribution/report-attribution/``. Only the JWS is signed:

* header (base64url JSON) names ``alg`` (must be ``ES256``; the header never chooses the
  algorithm, a different value is refused) and ``kid`` (selects Apple's key);
* the signature is the raw 64-byte ``r || s`` (RFC 7518 §3.4) over the ASCII bytes of
  ``header.payload`` as received; it is converted to DER for ``cryptography``;
* production trusts only Apple's production key ids (``apple-cas-identifier/0``); the
  ``apple-development-identifier/N`` keys sign sandbox postbacks and are trusted only with
  ``allow_development_keys=True``.

The envelope's other fields (conversion values, interaction type, country) are unsigned.
Deduplicate on the payload's ``postback-identifier``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Literal, cast, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tracker.apple.errors import SignatureInvalid
from tracker.apple.fields import FieldReader, JsonObject, json_object
from tracker.apple.keys import AppleKeys, default_apple_keys
from tracker.postbacks.errors import PostbackMalformed

MALFORMED = "aak_postback_malformed"
ALGORITHM = "ES256"
ES256_SIGNATURE_BYTES = 64
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")

ConversionType = Literal["download", "redownload", "re-engagement"]
CoarseValue = Literal["low", "medium", "high"]
InteractionType = Literal["click", "view"]
CONVERSION_TYPES: frozenset[str] = frozenset(get_args(ConversionType))
COARSE_VALUES: frozenset[str] = frozenset(get_args(CoarseValue))
INTERACTION_TYPES: frozenset[str] = frozenset(get_args(InteractionType))


@dataclass(frozen=True, slots=True)
class AakPostback:
    """One verified-or-parsed AdAttributionKit postback.

    Signed (from the JWS payload): everything down to ``marketplace_identifier``; the
    publisher and marketplace ids are withheld at low crowd-anonymity tiers. Unsigned (from
    the envelope): the conversion values, interaction type and country code.
    """

    postback_identifier: str
    ad_network_identifier: str
    source_identifier: str
    advertised_item_identifier: int
    impression_type: str  # "app-impression" today; kept as sent
    conversion_type: ConversionType
    did_win: bool
    postback_sequence_index: int
    publisher_item_identifier: int | None
    marketplace_identifier: str | None
    conversion_value: int | None
    coarse_conversion_value: CoarseValue | None
    ad_interaction_type: InteractionType | None
    country_code: str | None
    kid: str

    @property
    def dedup_key(self) -> str:
        """Apple's unique id of this postback; retries carry the same one."""
        return self.postback_identifier


@dataclass(frozen=True, slots=True)
class _Jws:
    header: JsonObject
    kid: str
    payload: JsonObject
    signing_input: bytes
    signature: bytes


def _b64url(segment: str, name: str) -> bytes:
    if not _BASE64URL.fullmatch(segment):
        raise PostbackMalformed(
            f"JWS {name} is not unpadded base64url", field="jws-string", reason=MALFORMED
        )
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PostbackMalformed(
            f"JWS {name} is not base64url", field="jws-string", reason=MALFORMED
        ) from exc


def _json_segment(segment: str, name: str) -> JsonObject:
    try:
        value = json.loads(_b64url(segment, name))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PostbackMalformed(
            f"JWS {name} is not JSON", field="jws-string", reason=MALFORMED
        ) from exc
    if not isinstance(value, dict):
        raise PostbackMalformed(
            f"JWS {name} is not a JSON object", field="jws-string", reason=MALFORMED
        )
    return value


def _split_jws(jws: str) -> _Jws:
    parts = jws.strip().split(".")
    if len(parts) != 3 or not all(part.isascii() for part in parts):
        raise PostbackMalformed(
            "expected a compact JWS: header.payload.signature", field="jws-string", reason=MALFORMED
        )
    header, payload, signature = parts
    header_object = _json_segment(header, "header")
    return _Jws(
        header=header_object,
        kid=FieldReader(header_object, MALFORMED).str_("kid"),
        payload=_json_segment(payload, "payload"),
        signing_input=f"{header}.{payload}".encode("ascii"),
        signature=_b64url(signature, "signature"),
    )


def _parse(envelope: FieldReader, jws: _Jws) -> AakPostback:
    read = FieldReader(jws.payload, MALFORMED)
    return AakPostback(
        postback_identifier=read.str_("postback-identifier"),
        ad_network_identifier=read.str_("ad-network-identifier"),
        source_identifier=read.str_("source-identifier"),
        advertised_item_identifier=read.int_("advertised-item-identifier", low=0),
        impression_type=read.str_("impression-type"),
        conversion_type=cast(ConversionType, read.choice("conversion-type", CONVERSION_TYPES)),
        did_win=read.bool_("did-win"),
        postback_sequence_index=read.int_("postback-sequence-index", low=0, high=2),
        publisher_item_identifier=read.optional_int("publisher-item-identifier", low=0),
        marketplace_identifier=read.optional_str("marketplace-identifier"),
        conversion_value=envelope.optional_int("conversion-value", low=0, high=63),
        coarse_conversion_value=cast(
            CoarseValue | None, envelope.optional_choice("coarse-conversion-value", COARSE_VALUES)
        ),
        ad_interaction_type=cast(
            InteractionType | None,
            envelope.optional_choice("ad-interaction-type", INTERACTION_TYPES),
        ),
        country_code=envelope.optional_str("country-code"),
        kid=jws.kid,
    )


def _decode(body: bytes | str | JsonObject) -> tuple[FieldReader, _Jws]:
    envelope = FieldReader(json_object(body, MALFORMED), MALFORMED)
    return envelope, _split_jws(envelope.str_("jws-string"))


def _verify(jws: _Jws, keys: AppleKeys, allow_development_keys: bool) -> None:
    alg = jws.header.get("alg")
    if alg != ALGORITHM:
        raise SignatureInvalid(
            f"JWS alg {alg!r} is not {ALGORITHM}", reason="aak_algorithm_unsupported"
        )
    key = keys.aak_key_for(jws.kid, allow_development_keys=allow_development_keys)
    if key is None:
        why = (
            "a development key, trusted only in sandbox mode"
            if jws.kid in keys.aak_by_kid
            else "not one of Apple's key ids"
        )
        raise SignatureInvalid(
            f"JWS kid {jws.kid!r} is not trusted: {why}", reason="aak_key_untrusted"
        )
    if len(jws.signature) != ES256_SIGNATURE_BYTES:
        raise SignatureInvalid(
            f"ES256 signature must be {ES256_SIGNATURE_BYTES} bytes (r || s), "
            f"got {len(jws.signature)}",
            reason="aak_signature_invalid",
        )
    r = int.from_bytes(jws.signature[:32], "big")
    s = int.from_bytes(jws.signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SignatureInvalid(
            f"JWS signature does not verify with key {jws.kid!r}", reason="aak_signature_invalid"
        ) from exc


def parse_aak_postback(body: bytes | str | JsonObject) -> AakPostback:
    """Parse the envelope and the JWS payload without checking the signature.

    For tests and dead-letter inspection only: count nothing that ``verify_aak_postback``
    did not return.
    """
    envelope, jws = _decode(body)
    return _parse(envelope, jws)


def verify_aak_postback(
    body: bytes | str | JsonObject,
    keys: AppleKeys | None = None,
    *,
    allow_development_keys: bool = False,
) -> AakPostback:
    """Verify Apple's ES256 signature, then parse; return the postback only if both pass.

    Raises ``PostbackMalformed`` (field named) for a bad envelope or payload, and
    ``SignatureInvalid`` with reason ``aak_algorithm_unsupported`` (``alg`` is not ES256),
    ``aak_key_untrusted`` (the ``kid`` is unknown, or a development key outside sandbox) or
    ``aak_signature_invalid``. The signature is checked before the payload's fields, so a
    tampered payload is reported as a bad signature. ``keys`` defaults to the shipped keys.
    """
    envelope, jws = _decode(body)
    _verify(jws, keys if keys is not None else default_apple_keys(), allow_development_keys)
    return _parse(envelope, jws)

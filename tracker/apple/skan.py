"""SKAdNetwork install-validation postbacks: parse (2.0 - 4.0) and verify Apple's signature.

Apple posts the JSON to ``/.well-known/skadnetwork/report-attribution/``. The signature
(``attribution-signature``, base64 DER ECDSA over SHA-256) covers these values, joined with
U+2063 (INVISIBLE SEPARATOR) and encoded as UTF-8; booleans are ``true`` / ``false``,
integers in decimal, [bracketed] values only when the postback carries them:

=========  =====================================================================
version    signed values, in order
=========  =====================================================================
2.0, 2.1   version, ad-network-id, campaign-id, app-id, transaction-id, redownload,
           [source-app-id]
2.2        as 2.1, then fidelity-type
3.0        as 2.2, then did-win
4.0        version, ad-network-id, source-identifier, app-id, transaction-id,
           redownload, [source-app-id | source-domain], fidelity-type, did-win,
           postback-sequence-index
=========  =====================================================================

``conversion-value`` and ``coarse-conversion-value`` are never signed: a changed conversion
value still verifies. 1.0 and 2.0 are signed with Apple's P-192 key, 2.1 and later with P-256.
Every function here is pure; keys are passed in (``tracker.apple.keys``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal, cast, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tracker.apple.errors import SignatureInvalid, UnsupportedVersion
from tracker.apple.fields import FieldReader, JsonObject, json_object
from tracker.apple.keys import AppleKeys, default_apple_keys

SEPARATOR = "\u2063"
SUPPORTED_VERSIONS = ("2.0", "2.1", "2.2", "3.0", "4.0")
FIDELITY_VERSIONS = frozenset({"2.2", "3.0", "4.0"})  # versions that sign fidelity-type
DID_WIN_VERSIONS = frozenset({"3.0", "4.0"})  # versions that sign did-win
MALFORMED = "skan_postback_malformed"

CoarseValue = Literal["low", "medium", "high"]
COARSE_VALUES: frozenset[str] = frozenset(get_args(CoarseValue))


@dataclass(frozen=True, slots=True)
class SkanPostback:
    """One parsed SKAdNetwork postback. Fields a version does not sign are None.

    ``source_identifier`` is normalised across versions: the 4.0 ``source-identifier``
    (2 to 4 digits, as sent), or the 2.x / 3.0 ``campaign-id`` as a decimal string.
    """

    version: str
    ad_network_id: str
    source_identifier: str
    campaign_id: int | None  # 2.x / 3.0 only
    app_id: int
    transaction_id: str
    redownload: bool
    source_app_id: int | None
    source_domain: str | None  # 4.0 web ads only
    fidelity_type: int | None  # 2.2+: 0 view-through, 1 StoreKit-rendered / click
    did_win: bool | None  # 3.0+
    postback_sequence_index: int | None  # 4.0: 0, 1 or 2
    conversion_value: int | None  # fine value 0..63, unsigned
    coarse_conversion_value: CoarseValue | None  # 4.0, unsigned
    attribution_signature: str

    @property
    def dedup_key(self) -> str:
        """Key that is equal for the retries of one postback: the transaction id, and for
        4.0 (up to three postbacks per install) the postback sequence index too."""
        if self.postback_sequence_index is None:
            return self.transaction_id
        return f"{self.transaction_id}:{self.postback_sequence_index}"

    def signed_values(self) -> tuple[str, ...]:
        """The values Apple signed, in order, as strings (see the module docstring)."""
        head = (
            self.version,
            self.ad_network_id,
            self.source_identifier,
            str(self.app_id),
            self.transaction_id,
            _bool(self.redownload),
        )
        source = (
            (str(self.source_app_id),)
            if self.source_app_id is not None
            else (self.source_domain,)
            if self.source_domain is not None
            else ()
        )
        tail: tuple[str, ...] = ()
        if self.fidelity_type is not None:
            tail += (str(self.fidelity_type),)
        if self.did_win is not None:
            tail += (_bool(self.did_win),)
        if self.postback_sequence_index is not None:
            tail += (str(self.postback_sequence_index),)
        return head + source + tail

    def signed_message(self) -> bytes:
        """The exact bytes the signature covers."""
        return SEPARATOR.join(self.signed_values()).encode("utf-8")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def parse_skan_postback(body: bytes | str | JsonObject) -> SkanPostback:
    """Parse a postback body (bytes, text or decoded JSON) into a ``SkanPostback``.

    Raises ``UnsupportedVersion`` for versions other than 2.0 - 4.0, and
    ``PostbackMalformed`` (``field`` set) for a missing, mistyped or out-of-range field.
    Does not verify the signature: see ``verify_skan_postback``.
    """
    read = FieldReader(json_object(body, MALFORMED), MALFORMED)
    version = read.str_("version")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(
            f"SKAdNetwork version {version!r} is not supported "
            f"(expected one of {', '.join(SUPPORTED_VERSIONS)})"
        )
    v4 = version == "4.0"
    campaign_id = None if v4 else read.int_("campaign-id", low=0)
    if v4:
        source_identifier = read.str_("source-identifier")
        if not (
            source_identifier.isascii()
            and source_identifier.isdigit()
            and 2 <= len(source_identifier) <= 4
        ):
            raise read.fail("source-identifier", f"{source_identifier!r} is not 2 to 4 digits")
    else:
        source_identifier = str(campaign_id)
    source_app_id = read.optional_int("source-app-id", low=0)
    source_domain = read.optional_str("source-domain") if v4 else None
    if source_app_id is not None and source_domain is not None:
        raise read.fail("source-domain", "a postback has source-app-id or source-domain, not both")
    coarse = read.optional_choice("coarse-conversion-value", COARSE_VALUES) if v4 else None
    return SkanPostback(
        version=version,
        ad_network_id=read.str_("ad-network-id"),
        source_identifier=source_identifier,
        campaign_id=campaign_id,
        app_id=read.int_("app-id", low=0),
        transaction_id=read.str_("transaction-id"),
        redownload=read.bool_("redownload"),
        source_app_id=source_app_id,
        source_domain=source_domain,
        fidelity_type=read.int_("fidelity-type", low=0, high=1)
        if version in FIDELITY_VERSIONS
        else None,
        did_win=read.bool_("did-win") if version in DID_WIN_VERSIONS else None,
        postback_sequence_index=read.int_("postback-sequence-index", low=0, high=2) if v4 else None,
        conversion_value=read.optional_int("conversion-value", low=0, high=63),
        coarse_conversion_value=cast(CoarseValue | None, coarse),
        attribution_signature=read.str_("attribution-signature"),
    )


def verify_skan_signature(postback: SkanPostback, keys: AppleKeys) -> None:
    """Raise ``SignatureInvalid`` unless Apple's key for the version signed the postback."""
    try:
        signature = base64.b64decode(postback.attribution_signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid("attribution-signature is not base64") from exc
    try:
        decode_dss_signature(signature)
    except ValueError as exc:
        raise SignatureInvalid(
            "attribution-signature is not a DER-encoded ECDSA signature"
        ) from exc
    key = keys.skan_key_for(postback.version)
    try:
        key.verify(signature, postback.signed_message(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SignatureInvalid(
            f"attribution-signature does not verify with Apple's {key.curve.name} key for "
            f"version {postback.version} (a signed field was changed, or it is not Apple's)"
        ) from exc


def verify_skan_postback(
    body: bytes | str | JsonObject, keys: AppleKeys | None = None
) -> SkanPostback:
    """Parse and verify a postback; return it only when Apple's signature verifies.

    ``keys`` defaults to the keys shipped with the package.
    """
    postback = parse_skan_postback(body)
    verify_skan_signature(postback, keys if keys is not None else default_apple_keys())
    return postback

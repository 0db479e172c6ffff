"""Apple postbacks: SKAdNetwork (``skan``) and AdAttributionKit (``aak``), pure core.

The collector receives the JSON, calls ``verify_skan_postback`` / ``verify_aak_postback``
with the ``AppleKeys`` it loaded at start-up, records the returned value under its
``dedup_key``, and answers 200; a ``TrackerError`` goes to the dead letters with its reason.
"""

from tracker.apple.aak import AakPostback, parse_aak_postback, verify_aak_postback
from tracker.apple.errors import (
    AppleKeysInvalid,
    PostbackMalformed,
    SignatureInvalid,
    UnsupportedVersion,
)
from tracker.apple.keys import AppleKeys, default_apple_keys, load_apple_keys, load_apple_keys_json
from tracker.apple.skan import (
    SkanPostback,
    parse_skan_postback,
    verify_skan_postback,
    verify_skan_signature,
)

__all__ = [
    "AakPostback",
    "AppleKeys",
    "AppleKeysInvalid",
    "PostbackMalformed",
    "SignatureInvalid",
    "SkanPostback",
    "UnsupportedVersion",
    "default_apple_keys",
    "load_apple_keys",
    "load_apple_keys_json",
    "parse_aak_postback",
    "parse_skan_postback",
    "verify_aak_postback",
    "verify_skan_postback",
    "verify_skan_signature",
]

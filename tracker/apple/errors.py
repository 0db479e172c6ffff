"""Errors of Apple postback intake (SKAdNetwork and AdAttributionKit)::

    InvalidRequest (400)
    ├── PostbackMalformed     400  skan_postback_malformed | aak_postback_malformed
    │                              (from tracker/postbacks/errors.py; ``field`` names the field)
    ├── UnsupportedVersion    400  skan_version_unsupported
    └── SignatureInvalid      400  skan_signature_invalid | aak_signature_invalid
                                   | aak_key_untrusted | aak_algorithm_unsupported
    TrackerError (500)
    └── AppleKeysInvalid      500  apple_keys_invalid   (configuration, at start-up)

None is retriable: the device would send the same bytes again. Whether to answer such a
postback 400, or 200 after recording it in the dead letters (Apple's devices retry non-200
answers for days), is the collector's decision.
"""

from __future__ import annotations

from tracker.errors import InvalidRequest, TrackerError
from tracker.postbacks.errors import PostbackMalformed

__all__ = ["AppleKeysInvalid", "PostbackMalformed", "SignatureInvalid", "UnsupportedVersion"]


class UnsupportedVersion(InvalidRequest):
    """A SKAdNetwork postback version this receiver does not parse (1.0, 5.0, unknown)."""

    reason = "skan_version_unsupported"


class SignatureInvalid(InvalidRequest):
    """Apple's signature does not verify, or the key it names is not trusted."""

    reason = "skan_signature_invalid"
    reasons = frozenset({"aak_signature_invalid", "aak_key_untrusted", "aak_algorithm_unsupported"})


class AppleKeysInvalid(TrackerError):
    """The Apple keys document is not the expected shape."""

    reason = "apple_keys_invalid"

"""Errors of postback intake (MMP postbacks and Apple SKAdNetwork / AdAttributionKit).

They extend the tracker hierarchy in ``tracker/errors.py``::

    InvalidRequest (400)
    └── PostbackMalformed     400  postback_malformed | skan_postback_malformed
                                   | aak_postback_malformed
    Unauthorized (401)
    └── PostbackAuthFailed    401  postback_auth_failed | postback_token_missing
                                   | postback_token_invalid | postback_signature_missing
                                   | postback_signature_invalid
    Forbidden (403)
    └── PostbackSourceForbidden 403 postback_ip_not_allowed
    TrackerError (500)
    └── PresetInvalid         500  postback_preset_invalid   (configuration, at start-up)

The Apple signature errors live in ``tracker/apple/errors.py``.
"""

from __future__ import annotations

from tracker.errors import Forbidden, InvalidRequest, TrackerError, Unauthorized


class PostbackMalformed(InvalidRequest):
    """A postback is not what its format promises: a field is missing, of the wrong type or
    out of range. ``field`` names the offending field (the wire name, e.g. ``"app-id"`` or
    ``"revenue"``) when there is one."""

    reason = "postback_malformed"
    reasons = frozenset({"skan_postback_malformed", "aak_postback_malformed"})

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message, reason=reason)


class PostbackAuthFailed(Unauthorized):
    """The postback did not prove it comes from the configured source (token or HMAC)."""

    reason = "postback_auth_failed"
    reasons = frozenset(
        {
            "postback_token_missing",
            "postback_token_invalid",
            "postback_signature_missing",
            "postback_signature_invalid",
        }
    )


class PostbackSourceForbidden(Forbidden):
    """The postback came from an address outside the source's allowlist."""

    reason = "postback_ip_not_allowed"


class PresetInvalid(TrackerError):
    """The presets data (``presets.yaml`` or an operator's file) failed validation.

    ``problems`` lists one line per bad entry, starting with its dotted path.
    """

    reason = "postback_preset_invalid"

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__("invalid postback presets:\n  " + "\n  ".join(problems))

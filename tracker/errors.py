"""Errors raised by the tracker core.

Every error knows whether retrying the same input could succeed (``retriable``), the HTTP
status the collector should answer with (``status_code``) and a stable snake_case ``reason``
code that is recorded in dead letters and returned to clients. A class has a default reason;
an instance may carry a more precise one, chosen from the class's ``reasons``::

    TrackerError                  500  tracker_error
    ├── InvalidRequest            400  invalid_request
    │   ├── InvalidEvent          400  invalid_event
    │   ├── InvalidClickId        400  click_id_invalid | click_id_malformed | click_id_tampered
    │   │                              | click_id_unknown_key | click_id_expired
    │   │                              | click_id_from_future
    │   └── RedirectRefused       400  redirect_not_allowed
    ├── Unauthorized              401  unauthorized | write_key_missing | write_key_unknown
    │                                  | read_key_missing | read_key_unknown
    ├── Forbidden                 403  forbidden | origin_not_allowed | ip_not_allowed
    ├── NotFound                  404  not_found
    │   ├── UnknownAdvertiser     404  advertiser_unknown
    │   ├── UnknownCampaign       404  campaign_unknown
    │   ├── UnknownPartner        404  partner_unknown
    │   ├── UnknownApp            404  app_unknown
    │   └── UnknownPostbackSource 404  postback_source_unknown
    ├── TooLarge                  413  payload_too_large
    ├── RateLimited               429  rate_limited          (retriable, retry_after_s)
    └── RegistryInvalid           500  registry_invalid      (configuration, at start-up)

Other packages of the tracker (postbacks, apple) subclass these; a subclass declares its own
``reason`` and, if it has several, ``reasons``.
"""

from __future__ import annotations

from typing import ClassVar


class TrackerError(Exception):
    """Base of every error raised by ``tracker``."""

    retriable: ClassVar[bool] = False
    status_code: ClassVar[int] = 500
    reason: str = "tracker_error"
    reasons: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, message: str = "", *, reason: str | None = None) -> None:
        if reason is not None:
            allowed = self.reasons | {type(self).reason}
            if reason not in allowed:
                raise ValueError(
                    f"{type(self).__name__} has no reason {reason!r}; expected one of "
                    f"{sorted(allowed)}"
                )
            self.reason = reason
        self.message = message or self.reason
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, message={self.message!r})"


class InvalidRequest(TrackerError):
    """The request cannot be accepted as sent; retrying it unchanged fails again."""

    status_code = 400
    reason = "invalid_request"


class InvalidEvent(InvalidRequest):
    """An event body or a field of it is malformed."""

    reason = "invalid_event"


class InvalidClickId(InvalidRequest):
    """A click id failed verification; ``reason`` says why."""

    reason = "click_id_invalid"
    reasons = frozenset(
        {
            "click_id_malformed",
            "click_id_tampered",
            "click_id_unknown_key",
            "click_id_expired",
            "click_id_from_future",
        }
    )


class RedirectRefused(InvalidRequest):
    """A redirect target is not an allowed destination (open-redirect protection)."""

    reason = "redirect_not_allowed"


class Unauthorized(TrackerError):
    """Credentials are missing or not known."""

    status_code = 401
    reason = "unauthorized"
    reasons = frozenset(
        {"write_key_missing", "write_key_unknown", "read_key_missing", "read_key_unknown"}
    )


class Forbidden(TrackerError):
    """Credentials are known but this request is not allowed from where it comes."""

    status_code = 403
    reason = "forbidden"
    reasons = frozenset({"origin_not_allowed", "ip_not_allowed"})


class NotFound(TrackerError):
    status_code = 404
    reason = "not_found"


class UnknownAdvertiser(NotFound):
    reason = "advertiser_unknown"


class UnknownCampaign(NotFound):
    reason = "campaign_unknown"


class UnknownPartner(NotFound):
    reason = "partner_unknown"


class UnknownApp(NotFound):
    """No campaign of the registry names this app (or it is another advertiser's)."""

    reason = "app_unknown"


class UnknownPostbackSource(NotFound):
    """``/v1/postback/{source}`` names no preset."""

    reason = "postback_source_unknown"


class TooLarge(TrackerError):
    status_code = 413
    reason = "payload_too_large"


class RateLimited(TrackerError):
    """Too many requests; the same request may succeed after ``retry_after_s`` seconds."""

    retriable = True
    status_code = 429
    reason = "rate_limited"

    def __init__(
        self, message: str = "", *, reason: str | None = None, retry_after_s: float = 1.0
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after_s = retry_after_s


class RegistryInvalid(TrackerError):
    """The registry (advertisers, campaigns, partners) failed validation.

    ``problems`` lists one line per bad field, each starting with the dotted path of the
    field, e.g. ``campaigns.summer-sale.landing_url: scheme must be http or https``.
    """

    reason = "registry_invalid"

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__("invalid registry:\n  " + "\n  ".join(problems))

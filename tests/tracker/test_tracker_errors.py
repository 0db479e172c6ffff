"""tracker.errors: status codes, reasons and retriability."""

from __future__ import annotations

import re

import pytest

from tracker import errors
from tracker.errors import (
    InvalidClickId,
    InvalidEvent,
    RateLimited,
    RedirectRefused,
    RegistryInvalid,
    TooLarge,
    TrackerError,
    Unauthorized,
    UnknownCampaign,
    UnknownPartner,
)


@pytest.mark.parametrize(
    ("cls", "status", "reason", "retriable"),
    [
        (InvalidEvent, 400, "invalid_event", False),
        (InvalidClickId, 400, "click_id_invalid", False),
        (RedirectRefused, 400, "redirect_not_allowed", False),
        (Unauthorized, 401, "unauthorized", False),
        (UnknownPartner, 404, "partner_unknown", False),
        (UnknownCampaign, 404, "campaign_unknown", False),
        (TooLarge, 413, "payload_too_large", False),
        (RateLimited, 429, "rate_limited", True),
    ],
)
def test_error_classes_carry_status_reason_and_retriability(
    cls: type[TrackerError], status: int, reason: str, retriable: bool
) -> None:
    err = cls("boom")
    assert isinstance(err, TrackerError)
    assert (err.status_code, err.reason, err.retriable) == (status, reason, retriable)
    assert str(err) == "boom"


def test_instance_reason_overrides_class_default() -> None:
    err = InvalidClickId("bad mac", reason="click_id_tampered")
    assert err.reason == "click_id_tampered"
    assert InvalidClickId.reason == "click_id_invalid"
    assert Unauthorized(reason="write_key_unknown").reason == "write_key_unknown"


def test_unknown_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no reason 'typo'"):
        InvalidClickId("x", reason="typo")


def test_message_defaults_to_reason() -> None:
    assert str(UnknownPartner()) == "partner_unknown"


def test_rate_limited_carries_retry_after() -> None:
    assert RateLimited(retry_after_s=2.5).retry_after_s == 2.5


def test_registry_invalid_lists_problems() -> None:
    err = RegistryInvalid(("a.b: bad", "c: worse"))
    assert err.problems == ("a.b: bad", "c: worse")
    assert "a.b: bad" in str(err)
    assert "c: worse" in str(err)


def test_every_reason_is_snake_case_and_every_error_documented_in_tree() -> None:
    doc = errors.__doc__ or ""
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, TrackerError):
            assert name in doc, f"{name} missing from the tree in the module docstring"
            for reason in obj.reasons | {obj.reason}:
                assert re.fullmatch(r"[a-z]+(?:_[a-z]+)*", reason), reason
                assert reason in doc, f"{reason} missing from the module docstring"

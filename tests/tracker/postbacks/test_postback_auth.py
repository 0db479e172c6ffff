"""Per-source postback authentication: token, HMAC-SHA256, IP allowlist."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tracker.network import NetworkSet
from tracker.postbacks import (
    PostbackAuthConfig,
    PostbackAuthFailed,
    PostbackSourceForbidden,
    auth_config_for,
    canonical_query_string,
    default_presets,
    postback_signature,
    verify_postback_auth,
)

SECRET = b"k3y-for-hmac"
BODY = b'{"event_name":"purchase","revenue":"12.50","currency":"EUR"}'
TOKEN_ONLY = PostbackAuthConfig(token_param="token", tokens=("old-token", "new-token"))
HMAC_ONLY = PostbackAuthConfig(signature_header="X-Partnerstream-Signature", hmac_secrets=(SECRET,))


def sign(message: bytes, secret: bytes = SECRET) -> str:
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


# --- token -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["old-token", "new-token"])
def test_either_rotated_token_is_accepted(token: str) -> None:
    verify_postback_auth(TOKEN_ONLY, {"token": token, "click_id": "c"}, {}, b"", "192.0.2.1")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"click_id": "c"}, "postback_token_missing"),
        ({"token": ""}, "postback_token_missing"),
        ({"token": "new-tokem"}, "postback_token_invalid"),
        ({"token": "new-token "}, "postback_token_invalid"),
        ({"Token": "new-token"}, "postback_token_missing"),
    ],
)
def test_token_failures(params: dict[str, str], reason: str) -> None:
    with pytest.raises(PostbackAuthFailed) as caught:
        verify_postback_auth(TOKEN_ONLY, params, {}, b"", None)
    assert caught.value.reason == reason
    assert caught.value.status_code == 401
    assert "new-token" not in caught.value.message  # secrets never echoed


# --- HMAC ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [sign(BODY), sign(BODY).upper(), f"sha256={sign(BODY)}", f"  {sign(BODY)} "],
)
def test_hmac_over_the_raw_body(header: str) -> None:
    headers = {"x-partnerstream-signature": header}  # header names are case-insensitive
    verify_postback_auth(HMAC_ONLY, {"ignored": "for POST"}, headers, BODY, None)


def test_hmac_over_the_sorted_query_string_for_get() -> None:
    params = {"revenue": "12.50", "b": "x y/z", "a": "é&=", "event_name": "purchase"}
    canonical = "a=%C3%A9%26%3D&b=x%20y%2Fz&event_name=purchase&revenue=12.50"
    assert canonical_query_string(params) == canonical
    headers = {"X-Partnerstream-Signature": sign(canonical.encode())}
    verify_postback_auth(HMAC_ONLY, params, headers, b"", None)
    assert postback_signature(SECRET, params, b"") == sign(canonical.encode())


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({}, BODY, "postback_signature_missing"),
        ({"X-Partnerstream-Signature": ""}, BODY, "postback_signature_missing"),
        ({"X-Partnerstream-Signature": sign(BODY, b"other-key")}, BODY,
         "postback_signature_invalid"),
        ({"X-Partnerstream-Signature": sign(BODY)}, BODY.replace(b"12.50", b"99.50"),
         "postback_signature_invalid"),
        ({"X-Partnerstream-Signature": sign(BODY)[:-2]}, BODY, "postback_signature_invalid"),
        ({"X-Partnerstream-Signature": "zz\u00e9"}, BODY, "postback_signature_invalid"),
    ],
)  # fmt: skip
def test_bad_hmac(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(PostbackAuthFailed) as caught:
        verify_postback_auth(HMAC_ONLY, {}, headers, body, None)
    assert caught.value.reason == reason


def test_get_signature_covers_every_parameter() -> None:
    params = {"event_name": "purchase", "revenue": "12.50"}
    headers = {"X-Partnerstream-Signature": postback_signature(SECRET, params, b"")}
    with pytest.raises(PostbackAuthFailed, match="sorted query string"):
        verify_postback_auth(HMAC_ONLY, {**params, "revenue": "99.50"}, headers, b"", None)


# --- IP allowlist ------------------------------------------------------------------------------


def test_appsflyer_preset_allowlist() -> None:
    config = auth_config_for(default_presets()["appsflyer"], tokens=["t"])
    assert config.token_param == "token"
    verify_postback_auth(config, {"token": "t"}, {}, b"", "45.92.117.9")
    verify_postback_auth(config, {"token": "t"}, {}, b"", "::ffff:194.28.47.1")
    for outside in ("45.92.120.1", "194.28.48.0", "2001:db8::1", "not-an-ip", None):
        with pytest.raises(PostbackSourceForbidden) as caught:
            verify_postback_auth(config, {"token": "t"}, {}, b"", outside)
        assert (caught.value.status_code, caught.value.reason) == (403, "postback_ip_not_allowed")


def test_ip_is_checked_before_credentials() -> None:
    config = PostbackAuthConfig(
        token_param="token", tokens=("t",), allowed_networks=NetworkSet.compile(["10.0.0.0/8"])
    )
    with pytest.raises(PostbackSourceForbidden):
        verify_postback_auth(config, {}, {}, b"", "192.0.2.1")
    with pytest.raises(PostbackAuthFailed):
        verify_postback_auth(config, {}, {}, b"", "10.1.2.3")


def test_every_enabled_check_must_pass() -> None:
    config = PostbackAuthConfig(
        token_param="token", tokens=("t",), signature_header="X-Sig", hmac_secrets=(SECRET,)
    )
    params = {"token": "t", "a": "1"}
    with pytest.raises(PostbackAuthFailed, match="X-Sig"):
        verify_postback_auth(config, params, {}, b"", None)
    good = {"X-Sig": sign(canonical_query_string(params).encode())}
    verify_postback_auth(config, params, good, b"", None)


def test_generic_preset_recommends_a_signature() -> None:
    config = auth_config_for(default_presets()["generic"], hmac_secrets=[SECRET])
    assert (config.signature_header, config.token_param, config.allowed_networks) == (
        "X-Partnerstream-Signature",
        None,
        None,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"token_param": "token"},
        {"tokens": ("t",)},
        {"signature_header": "X-Sig"},
        {"hmac_secrets": (SECRET,)},
        {"allowed_networks": NetworkSet.compile(())},
    ],
)
def test_config_refuses_half_configured_checks(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        PostbackAuthConfig(**kwargs)  # type: ignore[arg-type]

"""Per-source postback authentication: secret token, HMAC-SHA256 signature, IP allowlist.

A source's ``PostbackAuthConfig`` enables any of three checks; every enabled check must pass,
in this order (the first failure is raised):

1. **IP allowlist** (``allowed_networks``): the client address must fall inside one of the
   CIDRs, else ``PostbackSourceForbidden`` (403, ``postback_ip_not_allowed``). The client
   address is the one the collector trusts (the socket peer, or the proxy-reported address
   when the proxy is trusted): deciding that is the collector's job, not this module's.
2. **Token** (``token_param`` + ``tokens``): the parameter must equal one of the accepted
   tokens (several, so a token can be rotated without downtime), compared in constant time.
3. **Signature** (``signature_header`` + ``hmac_secrets``): the header holds the lower- or
   upper-case hex HMAC-SHA256 of the signed message, optionally prefixed ``sha256=``.
   The signed message is the raw request body when there is one (POST); for a request without
   a body (GET) it is the canonical query string: every query parameter, sorted by name
   (then value), each written ``name=value`` with RFC 3986 percent-encoding (unreserved
   characters ``A-Z a-z 0-9 - _ . ~`` kept as they are, space as ``%20``), joined with ``&``.
   The token parameter, if any, is part of it like any other parameter.

Failures of 2 and 3 raise ``PostbackAuthFailed`` (401) with reason ``postback_token_missing``,
``postback_token_invalid``, ``postback_signature_missing`` or ``postback_signature_invalid``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from tracker.network import NetworkSet, ip_in_networks
from tracker.postbacks.errors import PostbackAuthFailed, PostbackSourceForbidden
from tracker.postbacks.presets import Preset


@dataclass(frozen=True, slots=True)
class PostbackAuthConfig:
    """How one postback source proves itself. Secrets are plain values here: the service
    unwraps its settings' ``SecretStr`` when it builds this."""

    token_param: str | None = None
    tokens: tuple[str, ...] = ()
    signature_header: str | None = None
    hmac_secrets: tuple[bytes, ...] = ()
    allowed_networks: NetworkSet | None = None  # None: any address

    def __post_init__(self) -> None:
        if self.token_param and not any(self.tokens):
            raise ValueError(f"token_param {self.token_param!r} is set but no token is")
        if self.tokens and not self.token_param:
            raise ValueError("tokens are set but token_param is not")
        if self.signature_header and not any(self.hmac_secrets):
            raise ValueError(f"signature_header {self.signature_header!r} needs hmac_secrets")
        if self.hmac_secrets and not self.signature_header:
            raise ValueError("hmac_secrets are set but signature_header is not")
        if self.allowed_networks is not None and not len(self.allowed_networks):
            raise ValueError("an empty allowlist refuses every address; use None for any")
        if not (self.token_param or self.signature_header or self.allowed_networks):
            raise ValueError("a postback source needs a token, a signature or an IP allowlist")


def auth_config_for(
    preset: Preset,
    *,
    tokens: Iterable[str] = (),
    hmac_secrets: Iterable[bytes] = (),
    use_vendor_ip_ranges: bool = True,
    extra_networks: Iterable[str] = (),
) -> PostbackAuthConfig:
    """The preset's recommended checks filled with the operator's secrets.

    The token check is enabled when tokens are given, the signature check when secrets are;
    the allowlist is the vendor's published ranges (if any, and if wanted) plus extras.
    """
    token_list = tuple(t for t in tokens if t)
    secret_list = tuple(s for s in hmac_secrets if s)
    cidrs = [*(preset.ip_ranges.cidrs if use_vendor_ip_ranges else ()), *extra_networks]
    return PostbackAuthConfig(
        token_param=(preset.auth_token_param or "token") if token_list else None,
        tokens=token_list,
        signature_header=(preset.auth_signature_header or "X-Partnerstream-Signature")
        if secret_list
        else None,
        hmac_secrets=secret_list,
        allowed_networks=NetworkSet.compile(cidrs) if cidrs else None,
    )


def canonical_query_string(params: Mapping[str, str]) -> str:
    """The signed form of a GET postback's parameters (see the module docstring)."""
    pairs = sorted(params.items())
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def signed_message(params: Mapping[str, str], body: bytes) -> bytes:
    """What the signature covers: the body if there is one, else the canonical query."""
    return body if body else canonical_query_string(params).encode("utf-8")


def postback_signature(secret: bytes, params: Mapping[str, str], body: bytes) -> str:
    """The hex HMAC-SHA256 a sender puts in the signature header."""
    return hmac.new(secret, signed_message(params, body), hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _check_token(config: PostbackAuthConfig, params: Mapping[str, str]) -> None:
    assert config.token_param is not None
    sent = params.get(config.token_param, "")
    if not sent:
        raise PostbackAuthFailed(
            f"parameter {config.token_param!r} is missing", reason="postback_token_missing"
        )
    sent_bytes = sent.encode("utf-8")
    matches = [hmac.compare_digest(sent_bytes, t.encode("utf-8")) for t in config.tokens]
    if not any(matches):
        raise PostbackAuthFailed(
            f"parameter {config.token_param!r} does not match", reason="postback_token_invalid"
        )


def _check_signature(
    config: PostbackAuthConfig, params: Mapping[str, str], headers: Mapping[str, str], body: bytes
) -> None:
    assert config.signature_header is not None
    sent = (_header(headers, config.signature_header) or "").strip()
    if not sent:
        raise PostbackAuthFailed(
            f"header {config.signature_header!r} is missing", reason="postback_signature_missing"
        )
    sent = sent.removeprefix("sha256=").lower()
    message = signed_message(params, body)
    expected = [hmac.new(s, message, hashlib.sha256).hexdigest() for s in config.hmac_secrets]
    matches = [hmac.compare_digest(sent.encode("ascii", "replace"), e.encode()) for e in expected]
    if not any(matches):
        what = "body" if body else "sorted query string"
        raise PostbackAuthFailed(
            f"header {config.signature_header!r} is not the HMAC-SHA256 of the {what}",
            reason="postback_signature_invalid",
        )


def verify_postback_auth(
    config: PostbackAuthConfig,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    client_ip: str | None,
) -> None:
    """Raise unless the postback passes every check ``config`` enables (module docstring)."""
    networks = config.allowed_networks
    if networks is not None and not ip_in_networks(client_ip, networks):
        raise PostbackSourceForbidden(f"client address {client_ip!r} is not in the allowlist")
    if config.token_param is not None:
        _check_token(config, params)
    if config.signature_header is not None:
        _check_signature(config, params, headers, body)

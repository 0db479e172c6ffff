"""Where a click redirects to, without being an open redirect.

:func:`resolve_landing_url` takes the campaign's landing URL and, optionally, a deep-link
override sent by the partner (``?url=...``), and returns the URL to redirect the visitor to
with the click id appended as a query parameter.

Rules for a URL (landing or override), checked by :func:`parse_safe_url`:

* absolute ``http://`` or ``https://`` only (scheme case-insensitive; an override may use
  either, whatever the landing URL's scheme); no ``javascript:``,
  ``data:``, scheme-relative ``//host``, relative paths or ``https:/host`` / ``https:///host``;
* no backslash, control character, whitespace or Unicode format character anywhere, raw or
  percent-encoded (``%5c``, ``%0d%0a``, double encodings such as ``%255c`` included);
* no ``//`` in the decoded path (``/%2f%2fevil.com``, ``//evil.com``), which some servers turn
  into a scheme-relative ``Location``;
* authority without userinfo (``user@host``) and without any percent sign;
* host: ASCII only (IDN must be written as punycode), no trailing dot, valid DNS labels, or a
  canonical IPv4 / bracketed IPv6 literal; numeric look-alikes (``2130706433``, ``0x7f.1``,
  ``127.1``) are refused;
* port: absent or the scheme's default (dropped when normalising); any other port only when
  an allowlist entry names it (``shop.example.com:8443``);
* at most 2048 characters. Non-ASCII characters in path, query or fragment are
  percent-encoded (UTF-8) in the result.

An override is honoured only when its host is the landing URL's host (same port) or is on
the campaign's allowlist (:class:`AllowedHosts`):

* ``shop.example.com`` allows exactly that host (and ``xn--...`` punycode hosts only this way);
* ``*.example.com`` allows any subdomain at any depth, *not* ``example.com`` itself (list it
  too), and not subdomains whose added labels are punycode (``xn--``);
* IP literals only when listed exactly;
* ``example.com.evil.com`` and ``evil-example.com`` never match ``*.example.com``.

A refused URL raises :class:`~tracker.errors.RedirectRefused` (``redirect_not_allowed``); the
collector may answer 400 or fall back to the landing URL (call again with
``override_url=None``).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_plus

from tracker.errors import RedirectRefused

DEFAULT_CLICK_PARAM = "clickid"
MAX_URL_CHARS = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_PARAM_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch  # what quote(safe="") leaves as is
_HTML_UNSAFE = frozenset('"<>`')
_MAX_DECODE_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class SafeUrl:
    """An http(s) URL that passed :func:`parse_safe_url`, normalised.

    ``host`` is lower case (an IPv6 literal without brackets); ``port`` is None for the
    scheme's default port; ``query`` / ``fragment`` are None when absent (raw text otherwise).
    """

    scheme: str
    host: str
    port: int | None
    path: str
    query: str | None
    fragment: str | None

    @property
    def is_ip(self) -> bool:
        return _is_ip(self.host)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def geturl(self) -> str:
        url = f"{self.scheme}://{self.netloc}{self.path}"
        if self.query is not None:
            url += "?" + self.query
        if self.fragment is not None:
            url += "#" + self.fragment
        return url


def _refuse(url: str, why: str) -> RedirectRefused:
    shown = url if len(url) <= 200 else url[:200] + "..."
    return RedirectRefused(f"{why}: {shown!r}")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _bad_char(ch: str) -> bool:
    return (
        ord(ch) <= 0x20
        or ch == "\x7f"
        or ch == "\\"
        or (ord(ch) > 0x7F and unicodedata.category(ch) in {"Cc", "Cf", "Zs", "Zl", "Zp"})
    )


def _bad_decoded_char(ch: str) -> bool:
    # After decoding, a space is legitimate ("q=red%20shoes"); control characters are not.
    return ch != " " and _bad_char(ch) and unicodedata.category(ch) != "Zs"


def _fully_decoded(url: str, part: str) -> str:
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(part)
        if decoded == part:
            return part
        part = decoded
    raise _refuse(url, "percent-encoded too many times")


def _parse_host(url: str, hostport: str) -> tuple[str, int | None]:
    """Split and check ``host[:port]`` (no userinfo); returns (host, explicit port or None)."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _refuse(url, "unterminated IPv6 literal")
        host, rest = hostport[1:end], hostport[end + 1 :]
        try:
            host = ipaddress.IPv6Address(host).compressed
        except ValueError as exc:
            raise _refuse(url, "invalid IPv6 literal") from exc
        if rest and not rest.startswith(":"):
            raise _refuse(url, "junk after IPv6 literal")
        port_text = rest[1:] if rest else None
    else:
        host, sep, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if sep else None
        if not host.isascii():
            raise _refuse(url, "non-ASCII host (write IDN hosts as punycode)")
        host = host.lower()
        if host.endswith("."):
            raise _refuse(url, "host ends with a dot")
        labels = host.split(".")
        if len(host) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
            raise _refuse(url, "invalid host name")
        if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
            try:
                host = ipaddress.IPv4Address(host).compressed
            except ValueError as exc:
                raise _refuse(url, "ambiguous numeric host") from exc
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5 or not 0 < int(port_text) <= 65535:
            raise _refuse(url, "invalid port")
        port = int(port_text)
    return host, port


def _encode_unsafe(part: str) -> str:
    return "".join(quote(ch) if ord(ch) > 0x7F or ch in _HTML_UNSAFE else ch for ch in part)


def parse_safe_url(url: str) -> SafeUrl:
    """Check ``url`` against the rules in the module docstring; raise RedirectRefused if not."""
    if len(url) > MAX_URL_CHARS:
        raise _refuse(url, f"longer than {MAX_URL_CHARS} characters")
    if any(_bad_char(ch) for ch in url):
        raise _refuse(url, "backslash, whitespace or control character")
    match = _SCHEME_RE.match(url)
    if match is None:
        why = "scheme-relative URL" if url.startswith("//") else "not an absolute URL"
        raise _refuse(url, why)
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        raise _refuse(url, f"scheme {scheme!r} is not http or https")
    rest = url[match.end() :]
    if not rest.startswith("//") or rest.startswith("///"):
        raise _refuse(url, "scheme must be followed by exactly '//'")
    rest = rest[2:]
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, rest = rest[:end], rest[end:]
    if not authority:
        raise _refuse(url, "no host")
    if "@" in authority:
        raise _refuse(url, "userinfo (user@host) is not allowed")
    if "%" in authority:
        raise _refuse(url, "percent-encoded host")
    host, port = _parse_host(url, authority)
    if port == DEFAULT_PORTS[scheme]:
        port = None
    rest, hash_sign, fragment = rest.partition("#")
    path, question_mark, query = rest.partition("?")
    decoded_path = _fully_decoded(url, path)
    if "//" in decoded_path:
        raise _refuse(url, "'//' in path")
    for part in (decoded_path, _fully_decoded(url, query), _fully_decoded(url, fragment)):
        if any(_bad_decoded_char(ch) for ch in part):
            raise _refuse(url, "encoded backslash, whitespace or control character")
    return SafeUrl(
        scheme=scheme,
        host=host,
        port=port,
        path=_encode_unsafe(path) or "/",
        query=_encode_unsafe(query) if question_mark else None,
        fragment=_encode_unsafe(fragment) if hash_sign else None,
    )


@dataclass(frozen=True, slots=True)
class AllowedHosts:
    """A compiled redirect allowlist: exact ``(host, port)`` pairs and ``*.suffix`` rules."""

    exact: frozenset[tuple[str, int | None]]
    suffixes: tuple[tuple[str, int | None], ...]

    @classmethod
    def compile(cls, entries: Iterable[str]) -> AllowedHosts:
        """Compile entries such as ``shop.example.com``, ``*.example.com``, ``[::1]:8443``.

        Raises ValueError naming the bad entry (a URL instead of a host, a bare ``*.com``,
        a default port spelled out, ...).
        """
        exact: set[tuple[str, int | None]] = set()
        suffixes: list[tuple[str, int | None]] = []
        for raw in entries:
            entry = raw.strip()
            wildcard = entry.startswith("*.")
            body = entry[2:] if wildcard else entry
            if any(c in body for c in "/@%*\\") or not body:
                raise ValueError(f"allowlist entry {raw!r} must be a host, '*.domain' or host:port")
            try:
                host, port = _parse_host(entry, body)
            except RedirectRefused as exc:
                raise ValueError(f"allowlist entry {raw!r}: {exc.message}") from exc
            if port in (80, 443):
                raise ValueError(f"allowlist entry {raw!r}: default ports are implied, drop it")
            if wildcard:
                if _is_ip(host) or host.count(".") < 1:
                    raise ValueError(f"allowlist entry {raw!r}: '*.' needs a domain of 2+ labels")
                suffixes.append((host, port))
            else:
                exact.add((host, port))
        return cls(frozenset(exact), tuple(suffixes))

    def allows(self, url: SafeUrl) -> bool:
        if (url.host, url.port) in self.exact:
            return True
        if url.is_ip:
            return False
        for suffix, port in self.suffixes:
            if port == url.port and url.host.endswith("." + suffix):
                added = url.host[: -len(suffix) - 1].split(".")
                if not any(label.startswith("xn--") for label in added):
                    return True
        return False


def with_query_param(url: SafeUrl, name: str, value: str) -> str:
    """``url`` with ``name=value`` as the last query parameter, replacing any ``name`` in it."""
    kept = [
        piece
        for piece in (url.query or "").split("&")
        if piece and unquote_plus(piece.partition("=")[0]) != name
    ]
    kept.append(f"{quote(name, safe='')}={quote(value, safe='')}")
    return SafeUrl(url.scheme, url.host, url.port, url.path, "&".join(kept), url.fragment).geturl()


@dataclass(frozen=True, slots=True)
class LandingTemplate:
    """A landing URL prepared once for many click ids: ``with_query_param`` without
    re-parsing the URL per click (the value is the last thing before the fragment)."""

    prefix: str
    suffix: str

    @classmethod
    def of(cls, url: SafeUrl, name: str) -> LandingTemplate:
        without_fragment = SafeUrl(url.scheme, url.host, url.port, url.path, url.query, None)
        prefix = with_query_param(without_fragment, name, "")
        return cls(prefix, "" if url.fragment is None else "#" + url.fragment)

    def with_value(self, value: str) -> str:
        quoted = value if _UNRESERVED(value) else quote(value, safe="")
        return f"{self.prefix}{quoted}{self.suffix}"


def resolve_landing_url(
    campaign_landing_url: str,
    override_url: str | None,
    allowed_domains: AllowedHosts | Iterable[str],
    *,
    click_id: str,
    click_param_name: str = DEFAULT_CLICK_PARAM,
) -> str:
    """The URL to redirect a click to, with ``click_param_name=click_id`` appended.

    ``override_url`` (None or empty: use the landing URL) must pass :func:`parse_safe_url`
    and be on the landing URL's host or on ``allowed_domains``; otherwise RedirectRefused.
    An existing ``click_param_name`` parameter is replaced (a partner cannot pre-set it);
    the fragment stays after the query.
    """
    if not _PARAM_NAME_RE.fullmatch(click_param_name):
        raise ValueError(f"click parameter name {click_param_name!r} is not [A-Za-z0-9_.-]{{1,64}}")
    landing = parse_safe_url(campaign_landing_url)
    target = landing
    if override_url:
        target = parse_safe_url(override_url)
        allowed = (
            allowed_domains
            if isinstance(allowed_domains, AllowedHosts)
            else AllowedHosts.compile(allowed_domains)
        )
        same_host = (target.host, target.port) == (landing.host, landing.port)
        if not same_host and not allowed.allows(target):
            raise _refuse(override_url, "host is not on the campaign's redirect allowlist")
    return with_query_param(target, click_param_name, click_id)

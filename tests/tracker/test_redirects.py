"""tracker.redirects: open-redirect protection and click id appending."""

from __future__ import annotations

import pytest

from tracker.errors import RedirectRefused
from tracker.redirects import (
    AllowedHosts,
    LandingTemplate,
    parse_safe_url,
    resolve_landing_url,
    with_query_param,
)

LANDING = "https://shop.example.com/sale?utm_source=partners#top"
ALLOWED = [
    "www.example.com",
    "*.example.com",
    "*.rocket.example.net",
    "xn--bcher-kva.example",
    "203.0.113.10",
    "[2001:db8::1]",
    "staging.example.org:8443",
]
CID = "AQIBi8_laABPj9T8qa9MUZZ6oFtGC_e9MTIzNDU2NzjhFRKcO0cgjqd3hXA"


def resolve(override: str | None, allowed: list[str] | None = None) -> str:
    return resolve_landing_url(
        LANDING, override, ALLOWED if allowed is None else allowed, click_id=CID
    )


ACCEPTED = [
    # (override, expected redirect)
    (None, f"https://shop.example.com/sale?utm_source=partners&clickid={CID}#top"),
    ("", f"https://shop.example.com/sale?utm_source=partners&clickid={CID}#top"),
    ("https://shop.example.com/other", f"https://shop.example.com/other?clickid={CID}"),
    ("https://www.example.com/a/b?x=1", f"https://www.example.com/a/b?x=1&clickid={CID}"),
    ("https://deals.example.com", f"https://deals.example.com/?clickid={CID}"),
    ("https://a.b.example.com/", f"https://a.b.example.com/?clickid={CID}"),
    ("HTTPS://WWW.Example.COM/Path", f"https://www.example.com/Path?clickid={CID}"),
    ("http://www.example.com/", f"http://www.example.com/?clickid={CID}"),
    ("https://www.example.com:443/", f"https://www.example.com/?clickid={CID}"),
    ("http://www.example.com:80/", f"http://www.example.com/?clickid={CID}"),
    ("https://staging.example.org:8443/x", f"https://staging.example.org:8443/x?clickid={CID}"),
    ("https://go.rocket.example.net/app", f"https://go.rocket.example.net/app?clickid={CID}"),
    ("https://xn--bcher-kva.example/", f"https://xn--bcher-kva.example/?clickid={CID}"),
    ("https://203.0.113.10/p", f"https://203.0.113.10/p?clickid={CID}"),
    ("https://[2001:db8:0::1]/p", f"https://[2001:db8::1]/p?clickid={CID}"),
    # fragment stays after the query, even with hash routing
    (
        "https://www.example.com/#/product?id=1",
        f"https://www.example.com/?clickid={CID}#/product?id=1",
    ),
    # an existing click id parameter is replaced, other parameters keep order and encoding
    (
        "https://www.example.com/?a=1&clickid=forged&b=x%20y+z&clickid=again",
        f"https://www.example.com/?a=1&b=x%20y+z&clickid={CID}",
    ),
    ("https://www.example.com/?", f"https://www.example.com/?clickid={CID}"),
    # legitimate encodings survive; non-ASCII in path/query is percent-encoded
    (
        "https://www.example.com/search?q=red%20shoes",
        f"https://www.example.com/search?q=red%20shoes&clickid={CID}",
    ),
    (
        "https://www.example.com/café?q=ü",
        f"https://www.example.com/caf%C3%A9?q=%C3%BC&clickid={CID}",
    ),
    ("https://www.example.com/a%2Fb", f"https://www.example.com/a%2Fb?clickid={CID}"),
]


@pytest.mark.parametrize(("override", "expected"), ACCEPTED)
def test_accepted(override: str | None, expected: str) -> None:
    assert resolve(override) == expected


REFUSED = [
    # (override, why)
    ("javascript:alert(1)", "javascript scheme"),
    ("JaVaScRiPt:alert(1)", "javascript scheme, mixed case"),
    ("data:text/html,<script>alert(1)</script>", "data scheme"),
    ("ftp://www.example.com/", "ftp scheme"),
    ("//evil.com/", "scheme-relative"),
    ("/relative/path", "relative path"),
    ("evil.com", "no scheme"),
    ("https:/evil.com", "single slash, browsers read https://evil.com"),
    ("https:///evil.com", "triple slash, browsers read https://evil.com"),
    ("https:evil.com", "no slashes"),
    ("https://evil.com/", "host not listed"),
    ("https://example.com/", "apex not matched by *.example.com"),
    ("https://example.com.evil.com/", "allowed name as a prefix"),
    ("https://evil-example.com/", "suffix without a dot boundary"),
    ("https://evilexample.com/", "suffix without a dot boundary"),
    ("https://www.example.com.", "trailing dot"),
    ("https://www.example.com./x", "trailing dot with path"),
    ("https://www.example.com@evil.com/", "userinfo"),
    ("https://user:pass@www.example.com/", "userinfo on an allowed host"),
    ("https://evil.com\\@www.example.com/", "backslash before @"),
    ("https://www.example.com\\evil.com", "backslash"),
    ("https:\\\\evil.com", "backslashes as slashes"),
    ("https://www.example.com/%5cevil.com", "encoded backslash"),
    ("https://www.example.com/%255cevil.com", "double-encoded backslash"),
    ("https://www.example.com/%2f%2fevil.com", "encoded //"),
    ("https://www.example.com/%2F%2Fevil.com", "encoded // upper case"),
    ("https://www.example.com//evil.com", "// in path"),
    ("https://www.example.com/%252f%252fevil.com", "double-encoded //"),
    ("https://www.example.com%2f@evil.com", "percent in authority"),
    ("https://www%2eexample%2ecom/", "encoded dots in host"),
    ("https://www.example.com/x?a=%0d%0aSet-Cookie:x", "encoded CRLF"),
    ("https://www.example.com/\r\nLocation: https://evil.com", "raw CRLF"),
    ("https://www.example.com/ x", "raw space"),
    ("https://www.example.com/\tx", "tab"),
    (" https://www.example.com/", "leading space"),
    ("https://www.example.com/\u200bx", "zero-width space"),
    ("https://www.example.com/\u202ex", "right-to-left override"),
    ("https://www.exаmple.com/", "Cyrillic a look-alike (non-ASCII host)"),
    ("https://ｗｗｗ.example.com/", "fullwidth letters"),
    ("https://xn--80ak6aa92e.example.com/", "punycode under a wildcard"),
    ("https://xn--e1awd7f.com/", "punycode not listed"),
    ("https://127.0.0.1/", "IP literal not listed"),
    ("https://2130706433/", "decimal IPv4"),
    ("https://0x7f.0.0.1/", "hex IPv4"),
    ("https://0177.0.0.1/", "octal IPv4"),
    ("https://127.1/", "short IPv4"),
    ("https://203.0.113.010/", "listed IPv4 with a leading zero"),
    ("https://[::1]/", "IPv6 literal not listed"),
    ("https://[2001:db8::1%25eth0]/", "IPv6 zone id"),
    ("https://www.example.com:8443/", "port not listed"),
    ("https://staging.example.org/", "listed only with a port"),
    ("https://www.example.com:0/", "port zero"),
    ("https://www.example.com:99999/", "port out of range"),
    ("https://www.example.com:/", "empty port"),
    ("https://www.example.com:443:443/", "two ports"),
    ("https://-www.example.com/", "label starting with a hyphen"),
    ("https://www..example.com/", "empty label"),
    ("https://", "no host"),
    ("https://?x=1", "no host, query"),
    ("https://www.example.com/" + "a" * 2100, "too long"),
    ("https://www.example.com/%25252525255c", "encoded too many times"),
]


@pytest.mark.parametrize(("override", "why"), REFUSED, ids=[why for _, why in REFUSED])
def test_refused(override: str, why: str) -> None:
    with pytest.raises(RedirectRefused) as info:
        resolve(override)
    assert info.value.reason == "redirect_not_allowed"
    assert info.value.status_code == 400


def test_there_are_many_cases() -> None:
    assert len(ACCEPTED) + len(REFUSED) >= 25


def test_landing_host_is_allowed_without_listing_it() -> None:
    assert resolve("https://shop.example.com/x", allowed=[]).startswith(
        "https://shop.example.com/x?"
    )
    with pytest.raises(RedirectRefused):
        resolve("https://www.example.com/", allowed=[])


def test_empty_allowlist_still_allows_no_override() -> None:
    assert resolve(None, allowed=[]).startswith("https://shop.example.com/sale?")


def test_custom_click_param_name() -> None:
    url = resolve_landing_url(
        "https://shop.example.com/?ps_click=old",
        None,
        [],
        click_id="abc",
        click_param_name="ps_click",
    )
    assert url == "https://shop.example.com/?ps_click=abc"
    with pytest.raises(ValueError, match="click parameter name"):
        resolve_landing_url(LANDING, None, [], click_id="abc", click_param_name="a&b")


def test_precompiled_allowlist_is_accepted() -> None:
    hosts = AllowedHosts.compile(ALLOWED)
    assert resolve_landing_url(LANDING, "https://x.example.com/", hosts, click_id="c").startswith(
        "https://x.example.com/?clickid=c"
    )


def test_click_id_value_is_encoded() -> None:
    url = resolve_landing_url("https://shop.example.com/", None, [], click_id="a&b=c")
    assert url == "https://shop.example.com/?clickid=a%26b%3Dc"


def test_bad_landing_url_is_refused() -> None:
    with pytest.raises(RedirectRefused):
        resolve_landing_url("javascript:alert(1)", None, [], click_id="c")


@pytest.mark.parametrize(
    "entry",
    [
        "https://www.example.com",
        "*.com",
        "*",
        "*.*.example.com",
        "www.example.com/path",
        "user@example.com",
        "www.example.com.",
        "*.203.0.113.0",
        "www.example.com:443",
        "",
        "exa mple.com",
    ],
)
def test_bad_allowlist_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="allowlist entry"):
        AllowedHosts.compile([entry])


def test_allowlist_entries_are_case_insensitive() -> None:
    hosts = AllowedHosts.compile(["WWW.Example.COM", "*.Rocket.Example.NET"])
    assert hosts.allows(parse_safe_url("https://www.example.com/"))
    assert hosts.allows(parse_safe_url("https://go.rocket.example.net/"))


def test_with_query_param_handles_absent_query_and_fragment() -> None:
    url = parse_safe_url("https://www.example.com")
    assert with_query_param(url, "clickid", "x") == "https://www.example.com/?clickid=x"


def test_parse_safe_url_normalises() -> None:
    url = parse_safe_url("HTTPS://WWW.EXAMPLE.COM:443/A?B#C")
    assert (url.scheme, url.host, url.port, url.path, url.query, url.fragment) == (
        "https",
        "www.example.com",
        None,
        "/A",
        "B",
        "C",
    )


def test_wildcard_under_a_listed_punycode_domain() -> None:
    hosts = AllowedHosts.compile(["*.xn--bcher-kva.example"])
    assert hosts.allows(parse_safe_url("https://shop.xn--bcher-kva.example/"))
    assert not hosts.allows(parse_safe_url("https://xn--shp-sna.xn--bcher-kva.example/"))
    assert not hosts.allows(parse_safe_url("https://xn--bcher-kva.example/"))


@pytest.mark.parametrize(
    "landing",
    [
        "https://shop.example.com/summer-sale",
        "https://shop.example.com/summer-sale?utm_source=partners&clickid=preset#top",
        "https://shop.example.com/p%20q?a=b&clickid=1&clickid=2&z=%C3%A9#",
        "http://[2001:db8::1]:8080/x?y",
    ],
)
@pytest.mark.parametrize("value", ["AQEB-_x9", "a b&c=d#e", ""])
def test_landing_template_equals_appending_the_parameter(landing: str, value: str) -> None:
    url = parse_safe_url(landing)
    template = LandingTemplate.of(url, "clickid")
    assert template.with_value(value) == with_query_param(url, "clickid", value)


def test_landing_template_skips_quoting_only_what_quote_leaves_unchanged() -> None:
    from urllib.parse import quote

    from tracker.redirects import _UNRESERVED

    for code in range(0x250):
        char = chr(code)
        assert bool(_UNRESERVED(char)) == (quote(char, safe="") == char), repr(char)

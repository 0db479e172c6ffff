"""tracker.network: IP anonymisation and CIDR membership."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.network import IpMode, NetworkSet, anonymize_ip, ip_in_networks, parse_ip


@pytest.mark.parametrize(
    ("ip", "mode", "expected"),
    [
        ("203.0.113.77", IpMode.FULL, None),
        ("2001:db8:abcd:12::1", IpMode.FULL, None),
        ("203.0.113.77", IpMode.TRUNCATE, "203.0.113.0"),
        ("203.0.113.0", IpMode.TRUNCATE, "203.0.113.0"),
        ("10.1.2.255", IpMode.TRUNCATE, "10.1.2.0"),
        ("2001:db8:abcd:12::1", IpMode.TRUNCATE, "2001:db8:abcd::"),
        ("2001:0db8:abcd:ffff:ffff:ffff:ffff:ffff", IpMode.TRUNCATE, "2001:db8:abcd::"),
        ("::ffff:203.0.113.77", IpMode.TRUNCATE, "203.0.113.0"),
        ("fe80::1234:5678%eth0", IpMode.TRUNCATE, "fe80::"),
        ("[2001:db8::7]", IpMode.TRUNCATE, "2001:db8::"),
        (" 203.0.113.77 ", IpMode.NONE, "203.0.113.77"),
        ("2001:0DB8:0000::0001", IpMode.NONE, "2001:db8::1"),
        ("::ffff:203.0.113.77", IpMode.NONE, "203.0.113.77"),
        (ipaddress.ip_address("198.51.100.9"), IpMode.TRUNCATE, "198.51.100.0"),
        ("not an ip", IpMode.NONE, None),
        ("300.1.1.1", IpMode.TRUNCATE, None),
        ("", IpMode.NONE, None),
        (None, IpMode.NONE, None),
    ],
)
def test_anonymize_ip(
    ip: str | ipaddress.IPv4Address | None, mode: IpMode, expected: str | None
) -> None:
    assert anonymize_ip(ip, mode) == expected


@given(st.ip_addresses())
def test_truncation_keeps_only_the_prefix(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    out = anonymize_ip(address, IpMode.TRUNCATE)
    assert out is not None
    parsed = parse_ip(address)
    assert parsed is not None
    prefix = 24 if parsed.version == 4 else 48
    network = ipaddress.ip_network(f"{parsed}/{prefix}", strict=False)
    assert ipaddress.ip_address(out) == network.network_address
    assert ipaddress.ip_address(out) in network


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("full", IpMode.FULL),
        ("truncate", IpMode.TRUNCATE),
        ("/24", IpMode.TRUNCATE),
        ("24", IpMode.TRUNCATE),
        ("none", IpMode.NONE),
        ("NONE", IpMode.NONE),
    ],
)
def test_mode_from_text(text: str, mode: IpMode) -> None:
    assert IpMode(text) is mode


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid IpMode"):
        IpMode("/16")


NETS = NetworkSet.compile(
    ["10.0.0.0/8", "192.0.2.0/24", "198.51.100.7", "2001:db8:a::/48", "10.1.0.0/16"]
)


@pytest.mark.parametrize(
    ("ip", "inside"),
    [
        ("10.0.0.0", True),
        ("10.255.255.255", True),
        ("11.0.0.0", False),
        ("9.255.255.255", False),
        ("192.0.2.200", True),
        ("192.0.3.0", False),
        ("198.51.100.7", True),
        ("198.51.100.8", False),
        ("::ffff:192.0.2.1", True),
        ("2001:db8:a:ffff::1", True),
        ("2001:db8:b::1", False),
        ("::1", False),
        ("garbage", False),
        ("", False),
        (None, False),
        (ipaddress.ip_address("10.2.3.4"), True),
    ],
)
def test_ip_in_networks(ip: str | ipaddress.IPv4Address | None, inside: bool) -> None:
    assert ip_in_networks(ip, NETS) is inside


def test_empty_set_contains_nothing() -> None:
    assert not ip_in_networks("10.0.0.1", NetworkSet.compile([]))


@st.composite
def ip_networks(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address = draw(st.ip_addresses())
    prefix = draw(st.integers(min_value=0, max_value=address.max_prefixlen))
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


@given(st.ip_addresses(), st.lists(ip_networks(), max_size=20))
def test_membership_matches_a_linear_scan(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    compiled = NetworkSet.compile([str(n) for n in networks])
    expected = any(address.version == n.version and address in n for n in networks)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        mapped = address.ipv4_mapped
        expected = any(n.version == 4 and mapped in n for n in networks)
    assert ip_in_networks(address, compiled) is expected


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "10.0.0.0/33", "nope", "2001:db8::/129"])
def test_bad_networks_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid network"):
        NetworkSet.compile([bad])


def test_parsed_addresses_are_remembered_and_equal_to_fresh_ones() -> None:
    from tracker.network import parse_ip

    for text in ("81.2.69.142", " ::ffff:81.2.69.142 ", "[2001:db8::1]", "fe80::1%eth0", "nope"):
        first, again = parse_ip(text), parse_ip(text)
        assert first is again  # the same (immutable) object: parsed once
    assert parse_ip("::ffff:81.2.69.142") == parse_ip("81.2.69.142")
    assert parse_ip("nope") is None

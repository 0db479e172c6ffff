"""Client IP addresses: anonymisation before storage, and membership in CIDR lists.

Anonymisation modes (:class:`IpMode`, configured per deployment):

* ``full``: the address is dropped (None);
* ``truncate`` (alias ``"/24"``): IPv4 keeps its /24 (``203.0.113.77`` -> ``203.0.113.0``),
  IPv6 its /48 (``2001:db8:abcd:12::1`` -> ``2001:db8:abcd::``);
* ``none``: stored as received (normalised text form).

IPv4-mapped IPv6 addresses (``::ffff:203.0.113.7``, as dual-stack sockets report them) are
treated as the IPv4 address they carry; zone ids (``fe80::1%eth0``) are dropped. Text that is
not an IP address anonymises to None.

:class:`NetworkSet` precompiles a CIDR list (a postback source's allowlist, a data-centre
list of thousands of ranges) into sorted integer intervals searched by bisection.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class IpMode(StrEnum):
    FULL = "full"
    TRUNCATE = "truncate"
    NONE = "none"

    @classmethod
    def _missing_(cls, value: object) -> IpMode | None:
        if isinstance(value, str):
            text = value.strip().lower()
            if text in {"/24", "24", "/24,/48"}:
                return cls.TRUNCATE
            for member in cls:
                if member.value == text:
                    return member
        return None


def parse_ip(value: str | IPAddress | None) -> IPAddress | None:
    """An address from text or an address object, IPv4-mapped IPv6 unwrapped; None if invalid."""
    if value is None:
        return None
    if isinstance(value, str):
        return _parse_ip_text(value)
    return _unwrapped(value)


@functools.lru_cache(maxsize=8192)
def _parse_ip_text(value: str) -> IPAddress | None:
    """``parse_ip`` of a text, remembered: a postback parses its sender's and its device's
    address up to three times (allowlist, data-centre list, anonymisation), and a few senders
    send most requests; address objects are immutable, so sharing them is safe."""
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.partition("%")[0]
    try:
        return _unwrapped(ipaddress.ip_address(text))
    except ValueError:
        return None


def _unwrapped(value: IPAddress) -> IPAddress:
    if isinstance(value, ipaddress.IPv6Address):
        if value.scope_id is not None:
            value = ipaddress.IPv6Address(value.packed)
        if value.ipv4_mapped is not None:
            return value.ipv4_mapped
    return value


def anonymize_ip(value: str | IPAddress | None, mode: IpMode) -> str | None:
    """The address to store under ``mode`` (see module docstring), or None."""
    if mode is IpMode.FULL:
        return None
    address = parse_ip(value)
    if address is None:
        return None
    if mode is IpMode.NONE:
        return address.compressed
    prefix = 24 if address.version == 4 else 48
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    return network.network_address.compressed


@dataclass(frozen=True, slots=True)
class NetworkSet:
    """Precompiled CIDR ranges: ``ip in networks`` in O(log n)."""

    _starts4: tuple[int, ...] = field(repr=False)
    _ends4: tuple[int, ...] = field(repr=False)
    _starts6: tuple[int, ...] = field(repr=False)
    _ends6: tuple[int, ...] = field(repr=False)
    cidrs: tuple[str, ...] = ()

    @classmethod
    def compile(cls, cidrs: Iterable[str]) -> NetworkSet:
        """Compile CIDRs (a bare address means /32 or /128).

        Raises ValueError for an invalid entry or one with host bits set (``10.0.0.1/8``:
        probably a typo, so it is refused rather than silently widened).
        """
        v4: list[ipaddress.IPv4Network] = []
        v6: list[ipaddress.IPv6Network] = []
        texts: list[str] = []
        for raw in cidrs:
            try:
                net = ipaddress.ip_network(raw.strip(), strict=True)
            except ValueError as exc:
                raise ValueError(f"invalid network {raw!r}: {exc}") from exc
            texts.append(net.compressed)
            if isinstance(net, ipaddress.IPv4Network):
                v4.append(net)
            else:
                v6.append(net)
        c4 = list(ipaddress.collapse_addresses(v4))
        c6 = list(ipaddress.collapse_addresses(v6))
        return cls(
            _starts4=tuple(int(n.network_address) for n in c4),
            _ends4=tuple(int(n.broadcast_address) for n in c4),
            _starts6=tuple(int(n.network_address) for n in c6),
            _ends6=tuple(int(n.broadcast_address) for n in c6),
            cidrs=tuple(texts),
        )

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str | ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        address = parse_ip(value)
        if address is None:
            return False
        starts, ends = (
            (self._starts4, self._ends4) if address.version == 4 else (self._starts6, self._ends6)
        )
        i = bisect.bisect_right(starts, int(address)) - 1
        return i >= 0 and int(address) <= ends[i]

    def __len__(self) -> int:
        return len(self.cidrs)


def ip_in_networks(ip: str | IPAddress | None, networks: NetworkSet) -> bool:
    """True when ``ip`` parses and falls inside one of ``networks``."""
    return ip is not None and ip in networks

"""Which addresses a fetch on a client's behalf may connect to (the guard against server-side
request forgery): only public ones, so a client's URL cannot make the server reach into its own
network. Pure: the caller resolves the name and passes the answer in.
"""

from __future__ import annotations

import ipaddress

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: an IPv4 address in the last 32 bits


def read_address(text: str) -> _IP | None:
    """An IP address written as text (a zone index `%eth0` dropped), or None."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def address_refusal(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why a connection to `address` is refused, or None when it may be made.

    IPv4-mapped IPv6 (::ffff:10.0.0.1), NAT64 (64:ff9b::/96), 6to4 and Teredo are judged by the IPv4
    address inside, so no spelling of a private address gets through."""
    ip = read_address(address)
    if ip is None:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return address_refusal(str(inner), allow_loopback=allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"  # shared (100.64.0.0/10), documentation ranges and such
    return None


def is_loopback(address: str) -> bool:
    ip = read_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip is not None and ip.is_loopback

"""Whose request it is behind proxies: the client address a chain of trusted proxies reports in
`Forwarded` (RFC 7239) or `X-Forwarded-For`. Pure: app/web/proxies.py applies it to requests.

Every proxy appends the address it received the request from, so a chain is read from the right:
the right-most address that is not itself a trusted proxy is the client; anything to the left of
it was written by that client and proves nothing. An obfuscated identifier (RFC 7239 §6.3, say
`_hidden`) or `unknown` (§6.2) names nobody the server can check, so the reading stops there and
the request is seen from the last trusted proxy. Peers that are not trusted proxies are believed
about nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """The addresses and networks of REGISTRAR_TRUSTED_PROXIES (canonical, comma-separated)."""

    def __init__(self, listed: str) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(item, strict=False) for item in listed.split(",") if item
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trust(self, address: str) -> bool:
        ip = _ip(address)
        # an IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip is not None and any(ip in network for network in self.networks)


def client_address(
    peer: str,
    trusted: TrustedProxies,
    forwarded: Sequence[str],
    x_forwarded_for: Sequence[str],
) -> str:
    """The client's address: `peer` unless it is a trusted proxy whose headers (every line of
    `Forwarded`, every line of `X-Forwarded-For`, in the order received) name another.

    A proxy may write either header or both. Should the two name different clients, one of them
    was passed through from the client untouched (nginx, say, writes X-Forwarded-For and passes a
    client's `Forwarded` on), so neither is believed and the request is seen from the peer."""
    if not trusted.trust(peer):
        return peer
    readings = []
    if forwarded:
        hops = forwarded_for(forwarded)
        readings.append(peer if hops is None else _right_most_untrusted(peer, hops, trusted))
    if x_forwarded_for:
        hops = [item.strip() for line in x_forwarded_for for item in line.split(",")]
        readings.append(_right_most_untrusted(peer, hops, trusted))
    if not readings or any(reading != readings[0] for reading in readings):
        return peer
    return readings[0]


def _right_most_untrusted(peer: str, hops: Iterable[str | None], trusted: TrustedProxies) -> str:
    """Right to left through the hops, past trusted proxies; None is a hop nobody can check."""
    seen = peer
    for hop in reversed(list(hops)):
        address = None if hop is None else _canonical(hop)
        if address is None:
            return seen
        seen = address
        if not trusted.trust(address):
            return address
    # every hop a trusted proxy: the left-most is as far as anyone can see
    return seen


def forwarded_for(lines: Sequence[str]) -> list[str | None] | None:
    """The `for` node of every element of `Forwarded` (RFC 7239 §4), left to right: its name
    (an address without brackets and port, an obfuscated identifier, `unknown`), or None for an
    element without `for`. None when the header does not parse: then it says nothing."""
    try:
        return [
            _for_node(element)
            for line in lines
            for element in _split(line, ",")
            # RFC 9110 §5.6.1: empty list elements are ignored
            if element.strip()
        ]
    except _Malformed:
        return None


class _Malformed(Exception):
    """The header does not parse as RFC 7239 §4 says."""


def _for_node(element: str) -> str | None:
    """`for` of one forwarded-element (`for=…;proto=…;by=…`), unquoted and without its port."""
    found: str | None = None
    for pair in _split(element, ";"):
        if not pair.strip():
            continue
        name, equals, value = pair.strip().partition("=")
        if not equals or not name:
            raise _Malformed
        if name.lower() == "for":
            found = _node_address(_unquote(value))
    return found


def _node_address(node: str) -> str | None:
    """RFC 7239 §6: node = nodename [ ":" node-port ]; an IPv6 nodename is in brackets."""
    if node.startswith("["):
        inside, bracket, _port = node[1:].partition("]")
        return inside if bracket else None
    host, _, _port = node.partition(":")
    return host


def _unquote(value: str) -> str:
    """A token as it is; a quoted-string (RFC 9110 §5.6.4) without its quotes and escapes."""
    if not value.startswith('"'):
        if '"' in value or "\\" in value:
            raise _Malformed
        return value
    if len(value) < 2 or not value.endswith('"'):
        raise _Malformed
    text, out, index = value[1:-1], [], 0
    while index < len(text):
        if text[index] == "\\":
            index += 1
            if index == len(text):
                raise _Malformed
        out.append(text[index])
        index += 1
    return "".join(out)


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside quoted strings."""
    parts, start, quoted, index = [], 0, False, 0
    while index < len(text):
        char = text[index]
        if quoted and char == "\\":
            index += 1
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    if quoted:
        raise _Malformed
    parts.append(text[start:])
    return parts


def _canonical(text: str) -> str | None:
    """The address in its canonical form, or None for anything that is not an IP address
    (obfuscated identifiers, `unknown`, host names, garbage)."""
    ip = _ip(text)
    return None if ip is None else str(ip)


@lru_cache(maxsize=1024)
def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None

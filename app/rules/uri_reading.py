"""One reading of a client URI, the one browsers make, refused where RFC 3986 reads it otherwise.

A browser follows a redirect as the WHATWG URL Standard parses it, while urlsplit follows
RFC 3986, and the two disagree on hostile text: `https://evil.com\\.example.org/cb` is a path on
evil.com to a browser (the WHATWG parser reads `\\` as `/` in http(s) URLs) but the host
`evil.com\\.example.org` to urlsplit. Whatever the rules and the trusted-hosts policy decide
about a URI must be decided about where the browser goes, so every client URI is read by both
parsers (ada, a WHATWG URL parser, and urlsplit) and refused unless scheme, host, port, path
and the presence of userinfo agree; the host we judge is then the browser's, in ASCII.

Refused outright, before either parser: control characters, whitespace and backslashes (some
parsers drop or rewrite them silently, so what we store would not be what we checked);
percent-encoded hosts (a browser decodes `%65vil.com` to evil.com); an empty host after `//`
(a browser takes the next path segment as the host: `https:///evil.com`); and hosts that are
neither a domain name nor an IP address (`*`, `*.example.org`: wildcards are no hosts).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ada_url import HostType, idna_to_ascii, idna_to_unicode, parse_url

# C0 controls, space, DEL and the C1 controls; whitespace and controls are never part of a URI
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f]")
# what DNS names (and hosts files) are made of, after IDNA: letters, digits, "-", "_", dots
_DOMAIN = re.compile(r"(?:[a-z0-9_-]+\.)*[a-z0-9_-]+\.?")
# the WHATWG URL Standard's special schemes and their default ports (None: file has no port)
_DEFAULT_PORTS: dict[str, int | None] = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "ftp": 21,
    "file": None,
}
_ADA_FIELDS = ("protocol", "username", "password", "hostname", "port", "pathname", "host_type")


class UnsafeUri(ValueError):
    """A URI that browsers could follow somewhere other than where it seems to point."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # completes "a URI with ...", e.g. "a backslash"


@dataclass(frozen=True)
class ClientUri:
    """A client URI as browsers read it (and RFC 3986 agrees)."""

    scheme: str  # lowercase, without the ":"
    host: str | None  # ASCII (IDNA), lowercase; an IPv6 address without [ ]; None: no authority
    port: int | None  # as written, else the scheme's default; None for a custom scheme without
    userinfo: bool  # "user@" or "user:password@" before the host


@functools.lru_cache(maxsize=4096)  # pure, and a client sends its URIs again on every PUT
def read_client_uri(text: str) -> ClientUri | None:
    """The browser's reading of an absolute URI; None when text is not an absolute URI at all.

    Raises UnsafeUri for text that is, or may be, read differently by browsers and RFC 3986.
    """
    if _UNSAFE.search(text):
        raise UnsafeUri("a control character or whitespace")
    if "\\" in text:
        raise UnsafeUri("a backslash")
    try:
        rfc = urlsplit(text)
        rfc_port = rfc.port  # raises ValueError on a port that is not a number in 0-65535
        rfc_host = rfc.hostname
    except ValueError:  # e.g. "http://[::1"
        return None
    if not rfc.scheme or not (rfc.netloc or rfc.path):
        return None
    special = rfc.scheme in _DEFAULT_PORTS
    has_authority = text[len(rfc.scheme) + 1 :].startswith("//")
    if has_authority and not rfc_host:
        raise UnsafeUri("an empty host")
    if special and rfc.scheme != "file" and not has_authority:
        return None  # "https:example.org" is relative to RFC 3986, a host to browsers
    if rfc_host is not None and "%" in rfc_host:
        raise UnsafeUri("a percent-encoded host")
    try:
        ada = parse_url(text, _ADA_FIELDS)
    except ValueError:
        raise UnsafeUri("a host or port that browsers refuse") from None
    host = _browser_host(ada["hostname"], ada["host_type"])
    if host is not None and not _is_host(host):
        raise UnsafeUri("a host that is neither a domain name nor an IP address")
    uri = ClientUri(
        scheme=ada["protocol"].removesuffix(":"),
        host=host,
        port=int(ada["port"]) if ada["port"] else _DEFAULT_PORTS.get(rfc.scheme),
        userinfo=bool(ada["username"] or ada["password"]),
    )
    if not _agrees(uri, ada["pathname"], rfc, rfc_host, rfc_port, has_authority):
        raise UnsafeUri("parts that browsers (WHATWG URL) and RFC 3986 read differently")
    return uri


def ascii_host(name: str) -> str:
    """A host name as browsers send it to DNS: IDNA (UTS #46) ASCII, lowercase."""
    if name.isascii():
        return name.lower()
    encoded = idna_to_ascii(name).decode("ascii", "replace")
    return encoded.lower() if encoded else name.lower()


def _browser_host(hostname: str, host_type: HostType) -> str | None:
    if not hostname:
        return None
    if host_type == HostType.IPV6:
        return hostname.strip("[]")
    return hostname.lower()  # a custom scheme's (opaque) host keeps its case in WHATWG URL


def _is_host(host: str) -> bool:
    return _ip(host) is not None or _DOMAIN.fullmatch(host) is not None


def _agrees(
    uri: ClientUri,
    ada_path: str,
    rfc: SplitResult,
    rfc_host: str | None,
    rfc_port: int | None,
    has_authority: bool,
) -> bool:
    """Whether RFC 3986 reads the same scheme, host, port, path and userinfo as the browser."""
    rfc_path = rfc.path
    if not rfc_path and has_authority and uri.scheme in _DEFAULT_PORTS:
        rfc_path = "/"  # a special URL's empty path is "/" (WHATWG URL); the same resource
    return (
        uri.scheme == rfc.scheme
        and _same_host(uri.host, rfc_host)
        and uri.port == (rfc_port if rfc_port is not None else _DEFAULT_PORTS.get(rfc.scheme))
        and ada_path == rfc_path  # differs on dot segments, %2e, and text browsers re-encode
        and uri.userinfo == ("@" in rfc.netloc)  # "https://@host" has an empty userinfo
    )


def _same_host(browser: str | None, rfc: str | None) -> bool:
    if browser is None or rfc is None:
        return browser == rfc
    browser_ip, rfc_ip = _ip(browser), _ip(rfc)
    if browser_ip is not None or rfc_ip is not None:
        # "0x7f.1" and "2130706433" are 127.0.0.1 to a browser, names to RFC 3986: refused;
        # IPv6 spellings of one address ("::1", "0:0::1") are the same host
        return browser_ip == rfc_ip
    if rfc.isascii():
        return browser == rfc
    # an internationalized name: its IDNA form, read back, must be what was written; so a name
    # that IDNA maps onto another ("ｅｘａｍｐｌｅ.org", "exa\u00admple.org") is refused
    return idna_to_unicode(browser) == rfc


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None

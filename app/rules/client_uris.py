"""URI rules of client metadata: RFC 7591 §2, RFC 6749 §3.1.2, OIDC DCR 1.0 §2, RFC 8252 §7.

Our choices where the specs leave room, kept in one place:
- Web-page and endpoint URLs (client_uri, logo_uri, tos_uri, policy_uri, jwks_uri, the logout
  URIs, request_uris, ...) must be absolute http or https URLs with a host.
- jwks_uri must use https, except http on a loopback host (local development).
- Web clients register https redirect URIs anywhere and http ones only on a loopback host
  (localhost, 127.0.0.1, [::1], any port: the MCP clients' case); no custom schemes.
- Native clients may also register https redirect URIs (claimed https URIs, RFC 8252 §7.2).
- Text with whitespace or control characters is never a URI: urlsplit would silently drop
  some of them, and what we store must be what we checked.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from app.errors import InvalidClientMetadata, InvalidRedirectUri, RegistrarError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})  # urlsplit drops [ ] and lowercases
_WEB_SCHEMES = frozenset({"http", "https"})
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def split_uri(value: str) -> SplitResult | None:
    """The parts of an absolute URI, or None when value is not one."""
    if _UNSAFE.search(value):
        return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a port that is not a number in 0-65535
    except ValueError:  # e.g. "http://[::1"
        return None
    if not parts.scheme or not (parts.netloc or parts.path):
        return None
    if parts.scheme in _WEB_SCHEMES and not parts.hostname:
        return None
    return parts


def check_url(
    member: str, value: object, *, https: bool = False, loopback_http: bool = False
) -> str:
    """An absolute http(s) URL; with https=True only https (and http on loopback if allowed)."""
    not_a_url = InvalidClientMetadata(f"{member} must be an absolute http or https URL")
    if not isinstance(value, str):
        raise not_a_url
    parts = split_uri(value)
    if parts is None or parts.scheme not in _WEB_SCHEMES:
        raise not_a_url
    if https and parts.scheme != "https":
        if not (loopback_http and parts.hostname in LOOPBACK_HOSTS):
            raise InvalidClientMetadata(f"{member} must use the https scheme")
    return value


def check_fragmentless_url(member: str, value: object) -> str:
    url = check_url(member, value)
    # OIDC Back-Channel Logout 1.0 §2.2: "The URL MUST NOT include a fragment component."
    if "#" in url:
        raise InvalidClientMetadata(f"{member} must not contain a fragment")
    return url


def check_redirect_like(
    member: str, uri: str, error: type[RegistrarError] = InvalidClientMetadata
) -> SplitResult:
    """An absolute URI of a scheme a browser may safely be sent to."""
    parts = split_uri(uri)
    if parts is None:
        raise error(f"{member} must contain only absolute URIs")
    if parts.scheme in _FORBIDDEN_SCHEMES:
        raise error(f"{member} must not use the {parts.scheme}: scheme")
    return parts


def check_redirect_uris(uris: list[str], application_type: str, implicit: bool) -> None:
    """RFC 6749 §3.1.2 and the OIDC DCR §2 application_type rules, for every redirect URI."""
    for uri in uris:
        parts = check_redirect_like("redirect_uris", uri, InvalidRedirectUri)
        # RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
        if "#" in uri:
            raise InvalidRedirectUri("redirect_uris must not contain a fragment")
        if application_type == "native":
            _check_native(parts)
        elif implicit:
            _check_web_implicit(parts)
        # OIDC DCR §2 restricts web clients only for the implicit grant; a code-flow web
        # client may use https, http (loopback for MCP clients, or any host, as Keycloak
        # accepts) or a custom scheme


def _check_native(parts: SplitResult) -> None:
    # OIDC DCR §2: "Native Clients MUST only register redirect_uris using custom URI schemes or
    # loopback URLs using the http scheme" (and https: claimed https URIs, RFC 8252 §7.2).
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise InvalidRedirectUri(
            "redirect_uris of a native client must use a custom scheme, https, "
            "or http on a loopback host (localhost, 127.0.0.1, [::1])"
        )


def _check_web_implicit(parts: SplitResult) -> None:
    # OIDC DCR §2: "Web Clients using the OAuth Implicit Grant Type MUST only register URLs
    # using the https scheme as redirect_uris; they MUST NOT use localhost as the hostname."
    if parts.scheme != "https" or parts.hostname in LOOPBACK_HOSTS:
        raise InvalidRedirectUri(
            "redirect_uris of a web client using the implicit grant must use https "
            "and a host other than localhost"
        )

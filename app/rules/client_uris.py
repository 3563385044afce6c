"""URI rules of client metadata: RFC 7591 §2, RFC 6749 §3.1.2, OIDC DCR 1.0 §2, RFC 8252 §7.

Our choices where the specs leave room, kept in one place:
- Every client URI is read as browsers read it, and refused where RFC 3986 reads it otherwise,
  or where it has whitespace, control characters, a backslash, a percent-encoded, empty or
  wildcard host (app/rules/uri_reading.py says why).
- Web-page and endpoint URLs (client_uri, logo_uri, tos_uri, policy_uri, jwks_uri, the logout
  URIs, request_uris, ...) must be absolute http or https URLs with a host.
- jwks_uri must use https, except http on a loopback host (local development).
- Web clients of the code flow may register https, http (loopback for MCP clients on any port,
  or any host, as Keycloak accepts) and custom-scheme redirect URIs; web clients of the implicit
  grant only https on a host other than localhost (OIDC DCR §2).
- Native clients may also register https redirect URIs (claimed https URIs, RFC 8252 §7.2).
- Redirect URIs (redirect_uris, post_logout_redirect_uris) carry no userinfo: "user@" before a
  host is only there to make a URI look like it goes where it does not.
"""

from __future__ import annotations

from app.errors import InvalidClientMetadata, InvalidRedirectUri, RegistrarError
from app.rules.uri_reading import ClientUri, UnsafeUri, read_client_uri

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})  # ClientUri.host drops the [ ]
_WEB_SCHEMES = frozenset({"http", "https"})
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})


def read_uri(
    member: str, value: str, error: type[RegistrarError] = InvalidClientMetadata
) -> ClientUri | None:
    """The browser's reading of value (None: not an absolute URI); error if it is unsafe."""
    try:
        return read_client_uri(value)
    except UnsafeUri as unsafe:
        raise error(f"{member} must not hold a URI with {unsafe.reason}") from None


def check_url(
    member: str, value: object, *, https: bool = False, loopback_http: bool = False
) -> str:
    """An absolute http(s) URL; with https=True only https (and http on loopback if allowed)."""
    not_a_url = InvalidClientMetadata(f"{member} must be an absolute http or https URL")
    if not isinstance(value, str):
        raise not_a_url
    uri = read_uri(member, value)
    if uri is None or uri.scheme not in _WEB_SCHEMES:
        raise not_a_url
    if https and uri.scheme != "https":
        if not (loopback_http and uri.host in LOOPBACK_HOSTS):
            raise InvalidClientMetadata(f"{member} must use the https scheme")
    return value


def check_fragmentless_url(member: str, value: object) -> str:
    url = check_url(member, value)
    # OIDC Back-Channel Logout 1.0 §2.2: "The URL MUST NOT include a fragment component."
    if "#" in url:
        raise InvalidClientMetadata(f"{member} must not contain a fragment")
    return url


def check_redirect_like(
    member: str, value: str, error: type[RegistrarError] = InvalidClientMetadata
) -> ClientUri:
    """An absolute URI of a scheme a browser may safely be sent to, without userinfo."""
    uri = read_uri(member, value, error)
    if uri is None:
        raise error(f"{member} must contain only absolute URIs")
    if uri.scheme in _FORBIDDEN_SCHEMES:
        raise error(f"{member} must not use the {uri.scheme}: scheme")
    if uri.userinfo:
        raise error(f"{member} must not hold a URI with userinfo (user@host)")
    return uri


def check_redirect_uris(uris: list[str], application_type: str, implicit: bool) -> None:
    """RFC 6749 §3.1.2 and the OIDC DCR §2 application_type rules, for every redirect URI."""
    for text in uris:
        uri = check_redirect_like("redirect_uris", text, InvalidRedirectUri)
        # RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
        if "#" in text:
            raise InvalidRedirectUri("redirect_uris must not contain a fragment")
        if application_type == "native":
            _check_native(uri)
        elif implicit:
            _check_web_implicit(uri)
        # OIDC DCR §2 restricts web clients only for the implicit grant; a code-flow web
        # client may use https, http (loopback for MCP clients, or any host, as Keycloak
        # accepts) or a custom scheme


def _check_native(uri: ClientUri) -> None:
    # OIDC DCR §2: "Native Clients MUST only register redirect_uris using custom URI schemes or
    # loopback URLs using the http scheme" (and https: claimed https URIs, RFC 8252 §7.2).
    if uri.scheme == "http" and uri.host not in LOOPBACK_HOSTS:
        raise InvalidRedirectUri(
            "redirect_uris of a native client must use a custom scheme, https, "
            "or http on a loopback host (localhost, 127.0.0.1, [::1])"
        )


def _check_web_implicit(uri: ClientUri) -> None:
    # OIDC DCR §2: "Web Clients using the OAuth Implicit Grant Type MUST only register URLs
    # using the https scheme as redirect_uris; they MUST NOT use localhost as the hostname."
    if uri.scheme != "https" or uri.host in LOOPBACK_HOSTS:
        raise InvalidRedirectUri(
            "redirect_uris of a web client using the implicit grant must use https "
            "and a host other than localhost"
        )

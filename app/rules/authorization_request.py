"""Pure rules of the authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 8707, OIDC Core
§3.1.2.1): the redirect URI match, PKCE values, resource indicators and prompt values."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# RFC 8252 §7.3: loopback redirects, whose port the client picks when it runs
_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|\[::1\]|localhost)(?::(\d{1,5}))?([/?].*)?$", re.S)
# RFC 7636 §4.1: code_verifier = 43*128unreserved; §4.2: the S256 challenge is 43 base64url
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
PROMPTS = frozenset({"none", "login", "consent"})


def redirect_uri_matches(requested: str, registered: list[str]) -> bool:
    """Exact string comparison (RFC 9700 §4.1.3), except a loopback redirect's port."""
    if requested in registered:
        return True
    asked = _LOOPBACK.match(requested)
    if asked is None:
        return False
    for candidate in registered:
        known = _LOOPBACK.match(candidate)
        # RFC 8252 §7.3: "The authorization server MUST allow any port to be specified at the
        # time of the request for loopback IP redirect URIs"; host, path and query stay exact
        if known and known.group(1) == asked.group(1) and known.group(3) == asked.group(3):
            return True
    return False


def valid_code_challenge(challenge: str) -> bool:
    return bool(_S256_CHALLENGE.match(challenge))


def valid_code_verifier(verifier: str) -> bool:
    return bool(_VERIFIER.match(verifier))


def resource_problem(resource: str) -> str | None:
    """Why an RFC 8707 resource value is refused, or None."""
    parts = urlsplit(resource)
    # RFC 8707 §2: "Its value MUST be an absolute URI, as specified by Section 4.3 of
    # [RFC3986]. [...] It MUST NOT include a fragment component."
    if not parts.scheme or not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*$", parts.scheme):
        return "resource must be an absolute URI"
    if "#" in resource:
        return "resource must not include a fragment"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in resource):
        return "resource must be an absolute URI"
    return None


def prompt_problem(prompt: str) -> str | None:
    values = prompt.split()
    unknown = [v for v in values if v not in PROMPTS]
    if unknown:
        return f"prompt value not supported: {unknown[0]}"[:200]
    # OIDC Core §3.1.2.1: "If this parameter contains none with any other value, an error is
    # returned."
    if "none" in values and len(values) > 1:
        return "prompt=none cannot be combined with other values"
    return None

"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): which client ids
name a document, what a document must say, and how long it is kept. Pure: the fetch is
app/auth/outbound.py's, the caching app/services/client_documents.py's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from app.errors import RegistrarError
from app.rules.client_metadata import validate_client_metadata

MAX_URL_LENGTH = 255  # the longest client id the store keeps
MIN_CACHE_SECONDS = 60
MAX_CACHE_SECONDS = 24 * 3600
# the only ways such a client may authenticate: there is no way to establish a shared secret
# with a metadata document, so the draft forbids client_secret and the secret-based methods
DOCUMENT_AUTH_METHODS = frozenset({"none", "private_key_jwt"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "::1", "localhost"})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)


class BadDocument(ValueError):
    """The document, or the URL naming it, breaks a rule; the message says which."""


def names_document(client_id: str) -> bool:
    """Whether a client id is a URL (a server-made id never is)."""
    return client_id.startswith(("https://", "http://"))


def document_url_problem(
    url: str, allowed_hosts: tuple[str, ...], allow_loopback_http: bool
) -> str | None:
    """What is wrong with `url` as a client id naming a document, or None."""
    if len(url) > MAX_URL_LENGTH:
        return f"The client_id URL is longer than {MAX_URL_LENGTH} characters."
    if any(c.isspace() or ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return "The client_id URL holds spaces or control characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "The client_id is not a valid URL."
    host = (parts.hostname or "").lower()
    if not host:
        return "The client_id URL has no host."
    # the draft: the URL "MUST use the https scheme", "MUST contain a path component",
    # "MUST NOT contain single-dot or double-dot path segments", "MUST NOT contain a fragment
    # component", "MUST NOT contain a username or password"
    if parts.scheme != "https" and not (
        parts.scheme == "http" and allow_loopback_http and host in LOOPBACK_NAMES and port
    ):
        return "The client_id URL must use https."
    if parts.path in ("", "/"):
        return "The client_id URL must have a path."
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return "The client_id URL must not hold . or .. path segments."
    if parts.fragment or "#" in url:
        return "The client_id URL must not have a fragment."
    if parts.username is not None or parts.password is not None:
        return "The client_id URL must not hold a username or password."
    if allowed_hosts and not any(_host_matches(host, entry) for entry in allowed_hosts):
        if not (allow_loopback_http and host in LOOPBACK_NAMES):
            return f"Client metadata documents are not accepted from {host}."
    return None


def _host_matches(host: str, entry: str) -> bool:
    entry = entry.lower().rstrip(".")
    if entry.startswith("*."):
        domain = entry[2:]
        return host == domain or host.endswith("." + domain)
    return host == entry


def cache_seconds(cache_control: str | None) -> int:
    """How long a fetched document is kept: its Cache-Control max-age, within 60 s to 24 h;
    without one (or with no-store / no-cache), the shortest."""
    if not cache_control or _NO_STORE.search(cache_control):
        return MIN_CACHE_SECONDS
    found = _MAX_AGE.search(cache_control)
    if found is None:
        return MIN_CACHE_SECONDS
    return max(MIN_CACHE_SECONDS, min(MAX_CACHE_SECONDS, int(found.group(1))))


def read_document(url: str, document: object) -> dict[str, Any]:
    """The client metadata a document at `url` declares (RFC 7591 §2, validated), or BadDocument."""
    if not isinstance(document, Mapping):
        raise BadDocument("The client metadata document is not a JSON object.")
    # the draft: the document's client_id "MUST match the URL of the document using simple
    # string comparison"
    if document.get("client_id") != url:
        raise BadDocument("The client metadata document names another client_id than its URL.")
    for secret in ("client_secret", "client_secret_expires_at"):
        if secret in document:
            raise BadDocument(f"A client metadata document must not hold {secret}.")
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise BadDocument("The client metadata document has no redirect_uris.")
    body = {k: v for k, v in document.items() if k != "client_id"}
    # without a shared secret the client is public unless it says private_key_jwt
    body.setdefault("token_endpoint_auth_method", "none")
    try:
        metadata = validate_client_metadata(body)
    except RegistrarError as exc:
        raise BadDocument(f"The client metadata document is invalid: {exc.description}") from exc
    method = metadata["token_endpoint_auth_method"]
    if method not in DOCUMENT_AUTH_METHODS:
        raise BadDocument(
            f"token_endpoint_auth_method {method} is not allowed: only none or private_key_jwt."
        )
    if method == "private_key_jwt" and "jwks" not in metadata and "jwks_uri" not in metadata:
        raise BadDocument("private_key_jwt needs jwks or jwks_uri in the document.")
    return metadata

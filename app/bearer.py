"""Bearer access tokens (RFC 6750): this realm's own RS256 JWTs and those of trusted issuers.

Roles are read where Keycloak puts them: resource_access["realm-management"].roles, so access
tokens of a Keycloak realm listed in `trusted_issuers` work like the realm's own.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from jwcrypto import jwk

from app.callers import Credential
from app.errors import InvalidToken
from app.realms import RealmConfig, TrustedIssuer
from app.credentials import b64url_decode
from app.tokens import RealmKeys, peek_claims, verify_own_access_token, verify_rs256

CLOCK_SKEW = 30  # seconds of leeway on exp / nbf / iat
JWKS_TTL = 300.0
JWKS_MIN_REFRESH = 10.0  # an unknown kid refetches at most this often per issuer
JWKS_TIMEOUT = 5.0
JWKS_MAX_BYTES = 1 << 20

Fetch = Callable[[str], Mapping[str, Any]]


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """GET a JWKS document with a timeout and a size cap."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=JWKS_TIMEOUT) as response:  # noqa: S310
        data = json.loads(response.read(JWKS_MAX_BYTES))
    if not isinstance(data, dict):
        raise ValueError("JWKS is not a JSON object")
    return data


class TrustedKeys:
    """JWKS of trusted issuers: fetched, cached, refreshed on an unknown `kid`."""

    def __init__(self, fetch: Fetch = fetch_jwks) -> None:
        self._fetch = fetch
        self._cache: dict[str, tuple[float, jwk.JWKSet]] = {}
        self._lock = threading.Lock()

    def key_set(self, issuer: TrustedIssuer, kid: str | None) -> jwk.JWKSet:
        if issuer.jwks is not None:
            return jwk.JWKSet.from_json(json.dumps(issuer.jwks))
        assert issuer.jwks_uri is not None
        now = time.monotonic()
        cached = self._cache.get(issuer.jwks_uri)
        if cached is not None:
            fetched_at, keys = cached
            fresh = now - fetched_at < JWKS_TTL
            known = kid is None or keys.get_key(kid) is not None
            if (fresh and known) or now - fetched_at < JWKS_MIN_REFRESH:
                return keys
        return self._refresh(issuer.jwks_uri, now)

    def _refresh(self, url: str, now: float) -> jwk.JWKSet:
        with self._lock:
            try:
                keys = jwk.JWKSet.from_json(json.dumps(dict(self._fetch(url))))
            except Exception as exc:  # any fetch or parse failure: the token cannot be checked
                cached = self._cache.get(url)
                if cached is not None:
                    return cached[1]
                raise InvalidToken("Keys of the token's issuer are not available") from exc
            self._cache[url] = (now, keys)
            return keys


def verify_bearer(
    realm: RealmConfig,
    issuer: str,
    own_keys: RealmKeys,
    trusted: TrustedKeys,
    token: str,
    now: int,
) -> Credential:
    """Check signature, issuer, expiry and `typ`; return a Credential carrying the roles."""
    claims = _unverified_claims(token)
    iss = claims.get("iss")
    if iss == issuer:
        verified = verify_own_access_token(own_keys, token)
    else:
        match = next((t for t in realm.trusted_issuers if t.issuer == iss), None)
        if match is None:
            raise InvalidToken("Token issued by an issuer this realm does not trust")
        verified = verify_rs256(trusted.key_set(match, _kid(token)), token)
    _check_times(verified, now)
    if str(verified.get("typ", "Bearer")).lower() != "bearer":
        raise InvalidToken("Not an access token")
    return Credential(
        "bearer",
        token=token,
        jti=str(verified.get("jti", "")),
        roles=_roles(verified),
        subject=str(verified.get("azp") or verified.get("client_id") or ""),
    )


def _unverified_claims(token: str) -> dict[str, Any]:
    claims = peek_claims(token)
    if claims is None:
        raise InvalidToken("Malformed token")
    return claims


def _kid(token: str) -> str | None:
    try:
        header = json.loads(b64url_decode(token.split(".")[0]))
    except ValueError:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _check_times(claims: Mapping[str, Any], now: int) -> None:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InvalidToken("Token has no expiry")
    if exp + CLOCK_SKEW <= now:
        raise InvalidToken("Token expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and nbf - CLOCK_SKEW > now:
        raise InvalidToken("Token not valid yet")


def _roles(claims: Mapping[str, Any]) -> frozenset[str]:
    access = claims.get("resource_access")
    if not isinstance(access, dict):
        return frozenset()
    management = access.get("realm-management")
    if not isinstance(management, dict):
        return frozenset()
    roles = management.get("roles")
    if not isinstance(roles, list):
        return frozenset()
    return frozenset(role for role in roles if isinstance(role, str))

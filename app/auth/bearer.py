"""Bearer access tokens (RFC 6750): this realm's own RS256 JWTs and those of trusted issuers.

Roles are read where Keycloak puts them: resource_access["realm-management"].roles, so access
tokens of a Keycloak realm listed in `trusted_issuers` work like the realm's own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from jwcrypto import jwk

from app.auth.callers import Caller
from app.auth.secret_values import b64url_decode
from app.auth.tokens import RealmKeys, peek_claims, verify_own_access_token, verify_rs256
from app.config.realm_models import RealmConfig, TrustedIssuer
from app.errors import InvalidToken
from app.jsonio import loads

CLOCK_SKEW = 30  # seconds of leeway on exp / nbf / iat
JWKS_TTL = 300.0
JWKS_MIN_REFRESH = 10.0  # an unknown kid refetches at most this often per issuer
JWKS_TIMEOUT = 5.0
JWKS_MAX_BYTES = 1 << 20

Fetch = Callable[[str], Mapping[str, Any]]


def fetch_jwks(url: str) -> Mapping[str, Any]:
    """GET a JWKS document: a timeout, no redirects followed, at most JWKS_MAX_BYTES read."""
    headers = {"Accept": "application/json"}
    with (
        httpx.Client(timeout=JWKS_TIMEOUT, follow_redirects=False) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        if response.status_code != 200:
            raise ValueError(f"JWKS answered HTTP {response.status_code}")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > JWKS_MAX_BYTES:
                raise ValueError("JWKS is too large")
    data = json.loads(bytes(body))
    if not isinstance(data, dict):
        raise ValueError("JWKS is not a JSON object")
    return data


class TrustedKeys:
    """JWKS of trusted issuers: fetched, cached, refreshed on an unknown `kid`.

    A fetch is tried at most once per JWKS_MIN_REFRESH seconds per URL, failed or not, so
    tokens with made-up `kid`s cannot make the server hammer an issuer (or wait on a dead one).
    """

    def __init__(self, fetch: Fetch = fetch_jwks) -> None:
        self._fetch = fetch
        self._cache: dict[str, tuple[float, jwk.JWKSet]] = {}
        self._attempted: dict[str, float] = {}
        self._inline: dict[str, jwk.JWKSet] = {}
        self._locks: dict[str, threading.Lock] = {}  # one per URL: a slow issuer holds up no other

    def key_set(self, issuer: TrustedIssuer, kid: str | None) -> jwk.JWKSet:
        if issuer.jwks is not None:
            return self._inline_keys(issuer.jwks)
        assert issuer.jwks_uri is not None
        url = issuer.jwks_uri
        cached = self._usable(url, kid, time.monotonic())
        if cached is not None:
            return cached
        with self._locks.setdefault(url, threading.Lock()):
            now = time.monotonic()
            cached = self._usable(url, kid, now)  # another thread may have just refreshed
            if cached is not None:
                return cached
            self._attempted[url] = now
            try:
                keys = _parse_jwks(self._fetch(url))
            except Exception as exc:  # any fetch or parse failure: keep what we had
                if url in self._cache:
                    return self._cache[url][1]
                raise InvalidToken("Keys of the token's issuer are not available") from exc
            self._cache[url] = (now, keys)
            return keys

    def _usable(self, url: str, kid: str | None, now: float) -> jwk.JWKSet | None:
        """The cached set if it is fresh and knows `kid`, or if a refetch is not yet allowed."""
        cached = self._cache.get(url)
        recently_tried = now - self._attempted.get(url, -JWKS_MIN_REFRESH) < JWKS_MIN_REFRESH
        if cached is None:
            if recently_tried:
                raise InvalidToken("Keys of the token's issuer are not available")
            return None
        fetched_at, keys = cached
        known = kid is None or bool(keys.get_keys(kid))  # get_key raises on twins
        if (now - fetched_at < JWKS_TTL and known) or recently_tried:
            return keys
        return None

    def _inline_keys(self, jwks: Mapping[str, Any]) -> jwk.JWKSet:
        text = json.dumps(dict(jwks), sort_keys=True)
        keys = self._inline.get(text)
        if keys is None:
            try:
                keys = _parse_jwks(jwks)
            except Exception as exc:  # a realm file with a bad key must not make a 500
                raise InvalidToken("The trusted issuer's keys cannot be read") from exc
            self._inline[text] = keys
        return keys


def _parse_jwks(data: Mapping[str, Any]) -> jwk.JWKSet:
    keys = jwk.JWKSet()
    keys.import_keyset(json.dumps(dict(data)))
    return keys


def verify_bearer(
    realm: RealmConfig,
    issuer: str,
    own_keys: RealmKeys,
    trusted: TrustedKeys,
    token: str,
    now: int,
) -> Caller:
    """Check signature, issuer, expiry and `typ`; return a Caller carrying the roles."""
    claims = _unverified_claims(token)
    iss = claims.get("iss")
    if iss == issuer:
        verified = verify_own_access_token(own_keys, token)
    else:
        match = next((t for t in realm.trusted_issuers if t.issuer == iss), None)
        if match is None:
            raise InvalidToken("Token issued by an issuer this realm does not trust")
        verified = verify_rs256(trusted.key_set(match, _kid(token)), token)
    if verified.get("iss") != iss:  # the signed claims, not the peeked ones, decide
        raise InvalidToken("Invalid token")
    _check_times(verified, now)
    if str(verified.get("typ", "Bearer")).lower() != "bearer":
        raise InvalidToken("Not an access token")
    subject = verified.get("azp") or verified.get("client_id") or ""
    roles = _roles(verified)
    # a person's token of this realm carries its grant family as `sid` (app.services.user_tokens)
    family = verified.get("sid") if iss == issuer else None
    if isinstance(family, str) and _header(token).get("typ") != "at+jwt":
        # an ID token names the person too, and travels further (id_token_hint in URLs):
        # RFC 9068 §2.1, only a token typed at+jwt is an access token
        raise InvalidToken("Not an access token")
    user = str(verified.get("sub") or "") if isinstance(family, str) else ""
    if user:
        roles = _current_user_roles(realm, user, roles)
    elif iss == issuer:
        roles = _current_roles(realm, str(subject), roles)
    expires = verified.get("exp")
    return Caller(
        "bearer",
        token=token,
        jti=str(verified.get("jti", "")),
        roles=roles,
        subject=str(subject),
        expires_at=int(expires) if isinstance(expires, int | float) else 0,
        issuer=str(iss),
        user=user,
        grant=str(family) if user else "",
    )


def _current_user_roles(realm: RealmConfig, user: str, claimed: frozenset[str]) -> frozenset[str]:
    """Roles of a person's token, as the realm file grants that local user now: a role taken
    away is gone at once; anyone else (a removed or brokered user) holds none."""
    local = realm.login.user(user) if realm.login else None
    return claimed & frozenset(local.roles) if local is not None else frozenset()


def _current_roles(realm: RealmConfig, subject: str, claimed: frozenset[str]) -> frozenset[str]:
    """Roles of our own token, as the realm file grants them now: a removed service account's
    tokens stop working, and a role taken away is gone at once."""
    if not claimed:
        return claimed  # a registered client's token: never any admin role
    account = next((a for a in realm.service_accounts if a.client_id == subject), None)
    if account is None:
        raise InvalidToken("The token's client is no longer a service account of this realm")
    return claimed & frozenset(account.roles)


def _unverified_claims(token: str) -> dict[str, Any]:
    claims = peek_claims(token)
    if claims is None:
        raise InvalidToken("Malformed token")
    return claims


def _header(token: str) -> dict[str, Any]:
    try:
        header = loads(b64url_decode(token.split(".")[0]))
    except ValueError:  # JsonDecodeError and binascii.Error are ValueErrors
        return {}
    return header if isinstance(header, dict) else {}


def _kid(token: str) -> str | None:
    kid = _header(token).get("kid")
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

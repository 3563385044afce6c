"""`private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core §9): a JWT the
client signed with a key of its `jwks` or `jwks_uri`, and the keys behind `jwks_uri`.

What is checked here is the token itself; that its `jti` is used once is the store's
(app/store/client_documents.py), since every process must agree on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, TypeGuard

from jwcrypto import jwk

from app.auth.outbound import JWKS_MAX_BYTES, FetchRefused, OutboundFetcher
from app.auth.secret_values import b64url_decode
from app.auth.tokens import peek_claims, verify_rs256
from app.errors import InvalidClient, InvalidToken
from app.jsonio import loads

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ("RS256", "PS256", "ES256", "EdDSA")
CLOCK_SKEW = 30  # seconds of leeway on exp, nbf and iat
MAX_LIFETIME = 600  # an assertion may not expire further than this in the future
KEYS_TTL = 300.0  # seconds a fetched jwks_uri is used before it is fetched again
KEYS_MIN_REFRESH = 10.0  # an unknown kid refetches at most this often per URL


def asserted_client_id(assertion: str) -> str:
    """The client an assertion names (its `sub`, RFC 7523 §3 item 2), before it is checked."""
    claims = peek_claims(assertion)
    sub = claims.get("sub") if claims else None
    if not isinstance(sub, str) or not sub:
        raise InvalidClient("The client assertion is not a JWT naming its client in sub")
    return sub


def verify_client_assertion(
    assertion: str,
    keys: jwk.JWKSet,
    client_id: str,
    audiences: tuple[str, ...],
    now: int,
) -> dict[str, Any]:
    """The assertion's claims, once its signature, issuer, subject, audience and times hold;
    InvalidClient otherwise."""
    header = _header(assertion)
    if header.get("alg") not in ASSERTION_ALGS:
        # refuses "none" and the HS* algorithms: a shared secret is no private key
        raise InvalidClient("The client assertion's alg is not one of " + ", ".join(ASSERTION_ALGS))
    try:
        claims = verify_rs256(keys, assertion)
    except InvalidToken as exc:
        raise InvalidClient("The client assertion's signature does not verify") from exc
    # RFC 7523 §3 items 1, 2: "The JWT MUST contain an "iss" (issuer) claim"; "The JWT MUST
    # contain a "sub" (subject) claim" — for client authentication both are the client_id
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient("The client assertion's iss and sub must both be the client_id")
    # RFC 7523 §3 item 3: "The authorization server MUST reject any JWT that does not contain
    # its own identity as the intended audience."
    aud = claims.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a in audiences for a in named):
        raise InvalidClient("The client assertion's aud is not this token endpoint or issuer")
    # RFC 7523 §3 item 4: "The JWT MUST contain an "exp" (expiration time) claim that limits
    # the time window during which the JWT can be used."
    exp = claims.get("exp")
    if not _number(exp):
        raise InvalidClient("The client assertion has no exp")
    if exp + CLOCK_SKEW <= now:
        raise InvalidClient("The client assertion has expired")
    if exp > now + MAX_LIFETIME:
        raise InvalidClient(f"The client assertion must expire within {MAX_LIFETIME} s")
    nbf = claims.get("nbf")
    if _number(nbf) and nbf - CLOCK_SKEW > now:
        raise InvalidClient("The client assertion is not valid yet")
    iat = claims.get("iat")
    if _number(iat) and iat - CLOCK_SKEW > now:
        raise InvalidClient("The client assertion was issued in the future")
    # OIDC Core §9: "jti REQUIRED. JWT ID. A unique identifier for the token, which can be used
    # to prevent reuse of the token."
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidClient("The client assertion has no jti")
    return claims


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _header(token: str) -> dict[str, Any]:
    try:
        header = loads(b64url_decode(token.split(".")[0]))
    except ValueError as exc:  # JsonDecodeError and binascii.Error are ValueErrors
        raise InvalidClient("The client assertion is not a JWT") from exc
    if not isinstance(header, dict):
        raise InvalidClient("The client assertion is not a JWT")
    return header


def key_set(jwks: Mapping[str, Any]) -> jwk.JWKSet:
    keys = jwk.JWKSet()
    try:
        keys.import_keyset(json.dumps(dict(jwks)))
    except Exception as exc:  # jwcrypto raises several kinds for a bad key
        raise InvalidClient("The client's jwks cannot be read") from exc
    return keys


class ClientKeys:
    """Keys of clients' `jwks_uri`s: fetched under the outbound guard, kept KEYS_TTL seconds,
    fetched again early for an unknown `kid` (at most every KEYS_MIN_REFRESH seconds)."""

    def __init__(self, fetcher: OutboundFetcher) -> None:
        self._fetcher = fetcher
        self._cache: dict[str, tuple[float, jwk.JWKSet]] = {}
        self._tried: dict[str, float] = {}

    async def of(
        self, jwks_uri: str, kid: str | None, allow_loopback_http: bool, timeout: float
    ) -> jwk.JWKSet:
        now = time.monotonic()
        cached = self._cache.get(jwks_uri)
        recently = now - self._tried.get(jwks_uri, -KEYS_MIN_REFRESH) < KEYS_MIN_REFRESH
        if cached is not None:
            fetched_at, keys = cached
            known = kid is None or bool(keys.get_keys(kid))
            if (now - fetched_at < KEYS_TTL and known) or recently:
                return keys
        elif recently:
            raise InvalidClient("The client's jwks_uri could not be fetched")
        self._tried[jwks_uri] = now
        try:
            fetched = await self._fetcher.get_json(
                jwks_uri,
                allow_loopback_http=allow_loopback_http,
                timeout=timeout,
                max_bytes=JWKS_MAX_BYTES,
            )
        except FetchRefused as exc:
            if cached is not None:
                return cached[1]
            raise InvalidClient(f"The client's jwks_uri: {exc.description}") from exc
        if not isinstance(fetched.document, dict):
            raise InvalidClient("The client's jwks_uri is not a JWK Set")
        keys = key_set(fetched.document)
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[jwks_uri] = (now, keys)
        return keys


def assertion_kid(assertion: str) -> str | None:
    kid = _header(assertion).get("kid")
    return kid if isinstance(kid, str) else None

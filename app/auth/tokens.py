"""Realm keys and tokens: internal HS256 JWS (Keycloak's RAT and IAT), RS256 access tokens.

Registration and initial access tokens are compact JWS signed with the realm's HMAC key, as
Keycloak signs its internal tokens; they are verified with the standard library's hmac (cheap on
the hot path). Access tokens are RS256 JWTs made and checked with jwcrypto.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jwcrypto import jwk, jws, jwt
from jwcrypto.common import JWException

from app.auth.secret_values import b64url, b64url_decode, b64url_decode_canonical
from app.errors import InvalidToken
from app.jsonio import JsonDecodeError, dumps, loads

REGISTRATION_ACCESS_TOKEN = "RegistrationAccessToken"
INITIAL_ACCESS_TOKEN = "InitialAccessToken"
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class RealmKeys:
    """One realm's signing keys; `hmac_key` signs internal tokens, `rsa` signs access tokens."""

    hmac_kid: str
    hmac_key: bytes
    rsa: jwk.JWK

    @property
    def rsa_kid(self) -> str:
        return str(self.rsa.get("kid"))

    def public_jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(self.rsa.export_public())
        public.update({"use": "sig", "alg": "RS256"})
        return {"keys": [public]}

    def to_private_json(self) -> str:
        """Everything needed to rebuild the keys; callers encrypt it before storing."""
        return json.dumps(
            {
                "hmac_kid": self.hmac_kid,
                "hmac_key": b64url(self.hmac_key),
                "rsa": json.loads(self.rsa.export_private()),
            }
        )

    @classmethod
    def from_private_json(cls, text: str) -> RealmKeys:
        data = json.loads(text)
        return cls(
            hmac_kid=data["hmac_kid"],
            hmac_key=b64url_decode(data["hmac_key"]),
            rsa=jwk.JWK(**data["rsa"]),
        )

    @classmethod
    def generate(cls) -> RealmKeys:
        rsa = jwk.JWK.generate(kty="RSA", size=2048, kid=b64url(secrets.token_bytes(16)))
        return cls(b64url(secrets.token_bytes(16)), secrets.token_bytes(32), rsa)


def token_claims(issuer: str, typ: str, now: int, *, audience: str | None = None) -> dict[str, Any]:
    """The claims every token of a realm starts with: a fresh `jti`, `iat`, `iss`, `aud` (the
    issuer unless given) and `typ`; callers add what is particular to their token."""
    return {
        "jti": str(uuid.uuid4()),
        "iat": now,
        "iss": issuer,
        "aud": audience or issuer,
        "typ": typ,
    }


def sign_internal(keys: RealmKeys, claims: Mapping[str, Any]) -> str:
    """A compact HS256 JWS over `claims`."""
    header = b64url(dumps({"alg": "HS256", "typ": "JWT", "kid": keys.hmac_kid}))
    payload = b64url(dumps(dict(claims)))
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.digest(keys.hmac_key, signing_input, "sha256")  # one-shot, in C
    return f"{header}.{payload}.{b64url(signature)}"


def verify_internal(keys: RealmKeys, token: str, typ: str, issuer: str, now: int) -> dict[str, Any]:
    """Check signature, `typ`, `iss` and `exp` of an internal token; return its claims."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN_LENGTH or len(parts) != 3:
        raise InvalidToken("Malformed token")
    try:
        header = loads(b64url_decode_canonical(parts[0]))
        payload = b64url_decode_canonical(parts[1])
        signature = b64url_decode_canonical(parts[2])
    except (ValueError, JsonDecodeError) as exc:
        raise InvalidToken("Malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("Invalid token")
    expected = hmac.digest(keys.hmac_key, f"{parts[0]}.{parts[1]}".encode(), "sha256")
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("Invalid token")
    try:
        claims = loads(payload)
    except JsonDecodeError as exc:
        raise InvalidToken("Malformed token") from exc
    if not isinstance(claims, dict) or claims.get("typ") != typ:
        raise InvalidToken(f"Not a {typ}")
    # The realm's own HMAC key already proves which realm signed the token; the issuer's path
    # is checked, not its origin, so tokens made by `registrar iat create` (which does not know
    # the server's public URL) and tokens issued before a public URL change keep working.
    iss = claims.get("iss")
    realm_path = issuer[issuer.rfind("/realms/") :]
    if not isinstance(iss, str) or not iss.endswith(realm_path):
        raise InvalidToken("Token issued by another realm")
    expires = claims.get("exp")
    if isinstance(expires, int) and expires and expires <= now:
        raise InvalidToken("Token expired")
    if not isinstance(claims.get("jti"), str):
        raise InvalidToken("Invalid token")
    return claims


def peek_claims(token: str) -> dict[str, Any] | None:
    """The unverified payload of a compact JWS, to pick the right checker; None if not a JWS."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = loads(b64url_decode(parts[1]))
    except (ValueError, JsonDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def sign_access_token(keys: RealmKeys, claims: Mapping[str, Any], typ: str = "JWT") -> str:
    """An RS256 JWT: an access token (`typ` at+jwt for a user's, RFC 9068 §2.1) or an ID
    token."""
    token = jwt.JWT(header={"alg": "RS256", "typ": typ, "kid": keys.rsa_kid}, claims=dict(claims))
    token.make_signed_token(keys.rsa)
    return str(token.serialize())


def verify_rs256(key_set: jwk.JWKSet, token: str) -> dict[str, Any]:
    """Verify an RS256/PS256/ES256 JWS against a key set; return the payload claims."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidToken("Malformed token")
    try:
        # every part in its canonical text first: jwcrypto would accept padding and set
        # unused bits, so one signature would have several spellings
        header_part, payload_part, signature_part = token.split(".")
        header = loads(b64url_decode_canonical(header_part))
        b64url_decode_canonical(payload_part)
        b64url_decode_canonical(signature_part)
    except (ValueError, JsonDecodeError) as exc:
        raise InvalidToken("Malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") not in _ASYMMETRIC_ALGS:
        # refuses "none" and HS256 key confusion: only asymmetric algorithms are accepted
        raise InvalidToken("Token algorithm not accepted")
    try:
        signed = jws.JWS()
        signed.deserialize(token)
        signed.verify(key_set, alg=header["alg"])
        claims = loads(signed.payload)
    except (JWException, ValueError, KeyError, TypeError, RecursionError) as exc:
        # jwcrypto parses the header again with the json module: deep nesting recurses
        raise InvalidToken("Invalid token signature") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("Malformed token")
    return claims


_ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


def verify_own_access_token(keys: RealmKeys, token: str) -> dict[str, Any]:
    """Verify an access token this realm signed (signature only; callers check times)."""
    key_set = jwk.JWKSet()
    key_set.add(keys.rsa)
    return verify_rs256(key_set, token)

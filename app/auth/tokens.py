"""Realm keys and tokens: internal HS256 JWS (Keycloak's RAT and IAT), signed access and ID tokens.

Registration and initial access tokens are compact JWS signed with the realm's HMAC key, as
Keycloak signs its internal tokens; they are verified with the standard library's hmac (cheap on
the hot path). Access and ID tokens are JWTs (RS256, ES256 or EdDSA, as the realm says), signed
and checked with `cryptography`'s key objects, made once per realm and algorithm with the header
text (`Signer`): jwcrypto would copy its header registry and rebuild the key on every token, which
cost more than an RS256 signature itself. jwcrypto keeps the keys' JWK forms (JWKS, thumbprints)
and verifies trusted issuers' tokens.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from app.auth.secret_values import b64url, b64url_decode, b64url_decode_canonical
from app.errors import InvalidToken
from app.jsonio import JsonDecodeError, dumps, loads
from app.store.ids import random_uuid

REGISTRATION_ACCESS_TOKEN = "RegistrationAccessToken"
INITIAL_ACCESS_TOKEN = "InitialAccessToken"
MAX_TOKEN_LENGTH = 8192


# the order of the P-256 group (SEC 2 §2.4.2)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _derived(secret: bytes, alg: str, length: int) -> bytes:
    """Key material for `alg`, derived from the realm's sealed secret with HKDF (RFC 5869)."""
    info = b"registrar realm signing key " + alg.encode("ascii")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def _with_thumbprint_kid(key: jwk.JWK) -> jwk.JWK:
    # RFC 7638 thumbprint as the kid: the same key gets the same kid in every process
    return jwk.JWK(**{**json.loads(key.export_private()), "kid": key.thumbprint()})


@dataclass(frozen=True)
class RealmKeys:
    """One realm's signing keys; `hmac_key` signs internal tokens, `rsa` signs access tokens.

    The ES256 and EdDSA keys (a realm's `tokens.signing_alg`) are derived from `hmac_key`, so
    every process has the same ones without storing more."""

    hmac_kid: str
    hmac_key: bytes
    rsa: jwk.JWK

    @property
    def rsa_kid(self) -> str:
        return str(self.rsa.get("kid"))

    @functools.cached_property
    def _hs256(self) -> Any:
        # keyed once: a copy of a keyed HMAC costs less than keying a new one per token
        return hmac.new(self.hmac_key, digestmod=hashlib.sha256)

    def hs256(self, signing_input: bytes) -> bytes:
        """HMAC-SHA-256 of `signing_input` with `hmac_key` (RFC 7518 §3.2)."""
        mac = self._hs256.copy()
        mac.update(signing_input)
        digest: bytes = mac.digest()
        return digest

    @functools.cached_property
    def hs256_header(self) -> str:
        """The base64url JWS header of every internal token."""
        return b64url(dumps({"alg": "HS256", "typ": "JWT", "kid": self.hmac_kid}))

    @functools.cached_property
    def ec(self) -> jwk.JWK:
        # 48 bytes reduced modulo n-1, plus 1: a scalar in [1, n-1] with negligible bias
        # (FIPS 186-5 A.2.1)
        seed = int.from_bytes(_derived(self.hmac_key, "ES256", 48), "big")
        private = ec.derive_private_key(seed % (_P256_ORDER - 1) + 1, ec.SECP256R1())
        return _with_thumbprint_kid(jwk.JWK.from_pyca(private))

    @functools.cached_property
    def okp(self) -> jwk.JWK:
        seed = _derived(self.hmac_key, "EdDSA", 32)  # RFC 8032 §5.1.5: a 32-byte private key
        private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        return _with_thumbprint_kid(jwk.JWK.from_pyca(private))

    def signing_key(self, alg: str) -> jwk.JWK:
        return {"RS256": self.rsa, "ES256": self.ec, "EdDSA": self.okp}[alg]

    @functools.cached_property
    def signers(self) -> dict[str, Signer]:
        return {alg: Signer(alg, self.signing_key(alg)) for alg in SIGNING_ALGS}

    @functools.cached_property
    def verified(self) -> dict[str, dict[str, Any]]:
        """Access tokens whose signature these keys verified, and their claims: a token's text
        verifies the same way every time, and resource servers introspect one token again and
        again (RFC 7662 §4). Only the signature is remembered; times and revocation are checked
        on every use. The oldest go first past VERIFIED_MAX."""
        return {}

    def public_jwks(self) -> dict[str, Any]:
        keys = []
        for alg in SIGNING_ALGS:
            public: dict[str, Any] = json.loads(self.signing_key(alg).export_public())
            public.update({"use": "sig", "alg": alg})
            keys.append(public)
        return {"keys": keys}

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
        "jti": random_uuid(),
        "iat": now,
        "iss": issuer,
        "aud": audience or issuer,
        "typ": typ,
    }


def sign_internal(keys: RealmKeys, claims: Mapping[str, Any]) -> str:
    """A compact HS256 JWS over `claims`."""
    header = keys.hs256_header
    payload = b64url(dumps(dict(claims)))
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{b64url(keys.hs256(signing_input))}"


def _compact_parts(token: str) -> tuple[list[str], Any, bytes, bytes]:
    """A compact JWS's parts as written, and its header (decoded), payload and signature;
    every part in its canonical text, so one signature has one spelling."""
    parts = token.split(".")
    if len(token) > MAX_TOKEN_LENGTH or len(parts) != 3:
        raise InvalidToken("Malformed token")
    try:
        header = loads(b64url_decode_canonical(parts[0]))
        payload = b64url_decode_canonical(parts[1])
        signature = b64url_decode_canonical(parts[2])
    except (ValueError, JsonDecodeError) as exc:
        raise InvalidToken("Malformed token") from exc
    return parts, header, payload, signature


def verify_internal(keys: RealmKeys, token: str, typ: str, issuer: str, now: int) -> dict[str, Any]:
    """Check signature, `typ`, `iss` and `exp` of an internal token; return its claims."""
    parts, header, payload, signature = _compact_parts(token)
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("Invalid token")
    expected = keys.hs256(f"{parts[0]}.{parts[1]}".encode())
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


SIGNING_ALGS = ("RS256", "ES256", "EdDSA")  # RS256 first: the key older clients pick


_SHA256 = hashes.SHA256()
_PKCS1V15 = padding.PKCS1v15()
_ECDSA_SHA256 = ec.ECDSA(_SHA256)
_P256_BYTES = 32


class Signer:
    """One realm key of one algorithm, as `cryptography` key objects, and its JWS headers."""

    def __init__(self, alg: str, key: jwk.JWK) -> None:
        self.alg = alg
        self.kid = str(key.get("kid"))
        self._private = key.get_op_key("sign")
        self._public = key.get_op_key("verify")
        self._headers: dict[str, bytes] = {}

    def header(self, typ: str) -> bytes:
        """The base64url JWS header (RFC 7515 §4.1) of a token of `typ`, made once."""
        text = self._headers.get(typ)
        if text is None:
            text = b64url(dumps({"alg": self.alg, "typ": typ, "kid": self.kid})).encode("ascii")
            self._headers[typ] = text
        return text

    def sign(self, signing_input: bytes) -> bytes:
        """RFC 7518 §3.3 (RS256), §3.4 (ES256: R and S, 32 bytes each), RFC 8037 §3.1 (EdDSA)."""
        key = self._private
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(signing_input, _PKCS1V15, _SHA256)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(signing_input, _ECDSA_SHA256))
            return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(signing_input)
        raise TypeError(f"no signing for {type(key).__name__}")

    def verifies(self, signing_input: bytes, signature: bytes) -> bool:
        key = self._public
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signing_input, _PKCS1V15, _SHA256)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                if len(signature) != 2 * _P256_BYTES:
                    return False
                r = int.from_bytes(signature[:_P256_BYTES], "big")
                s = int.from_bytes(signature[_P256_BYTES:], "big")
                key.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, signing_input)
            else:
                raise TypeError(f"no verifying with {type(key).__name__}")
        except InvalidSignature:
            return False
        return True


def sign_access_token(
    keys: RealmKeys, claims: Mapping[str, Any], typ: str = "JWT", alg: str = "RS256"
) -> str:
    """A signed JWT: an access token (`typ` at+jwt for a user's, RFC 9068 §2.1) or an ID
    token, with the realm's key for `alg`."""
    signer = keys.signers[alg]
    signing_input = signer.header(typ) + b"." + b64url(dumps(dict(claims))).encode("ascii")
    signature = b64url(signer.sign(signing_input)).encode("ascii")
    return (signing_input + b"." + signature).decode("ascii")


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
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


VERIFIED_MAX = 4096


def verify_own_access_token(keys: RealmKeys, token: str) -> dict[str, Any]:
    """Verify an access token this realm signed (signature only; callers check times): the
    realm's key of the header's `alg`, which must be one the realm signs with, and its `kid`."""
    known = keys.verified.get(token)
    if known is not None:
        return dict(known)  # a copy: callers may add to what they were given
    claims = _verified_claims(keys, token)
    if len(keys.verified) >= VERIFIED_MAX:
        # bearer tokens are verified in worker threads too: another may have evicted it first
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):
            del keys.verified[next(iter(keys.verified))]
    keys.verified[token] = dict(claims)
    return claims


def _verified_claims(keys: RealmKeys, token: str) -> dict[str, Any]:
    parts, header, payload, signature = _compact_parts(token)
    # only the realm's asymmetric algorithms: refuses "none" and HS256 key confusion
    alg = header.get("alg") if isinstance(header, dict) else None
    signer = keys.signers.get(alg) if isinstance(alg, str) else None
    if signer is None:
        raise InvalidToken("Token algorithm not accepted")
    # RFC 7515 §4.1.11: a "crit" extension this server does not understand makes it invalid
    # (it writes none)
    if header.get("kid", signer.kid) != signer.kid or "crit" in header:
        raise InvalidToken("Invalid token signature")
    if not signer.verifies(f"{parts[0]}.{parts[1]}".encode("ascii"), signature):
        raise InvalidToken("Invalid token signature")
    try:
        claims = loads(payload)
    except JsonDecodeError as exc:
        raise InvalidToken("Malformed token") from exc
    if not isinstance(claims, dict):
        raise InvalidToken("Malformed token")
    return claims

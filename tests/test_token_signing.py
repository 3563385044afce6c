"""Access and ID tokens are signed and checked with `cryptography` directly (app/auth/tokens.py):
what they sign is what jwcrypto, an independent JOSE implementation, verifies against the realm's
JWKS, and what jwcrypto signs with the realm's keys is accepted; anything else is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jwcrypto import jwk, jws, jwt

from app.auth import tokens
from app.auth.secret_values import b64url, b64url_decode
from app.auth.tokens import SIGNING_ALGS, RealmKeys, sign_access_token, verify_own_access_token
from app.errors import InvalidToken

KEYS = RealmKeys.generate()
OTHER = RealmKeys.generate()
NONE = b64url(b'{"alg":"none"}')
ALG_LIST = b64url(b'{"alg":["RS256"]}')
NOT_AN_OBJECT = b64url(b"[]")
CLAIMS: dict[str, Any] = {"iss": "http://testserver/realms/r", "sub": "c", "exp": 2**31, "n": "é"}


def public_jwks(keys: RealmKeys) -> jwk.JWKSet:
    return jwk.JWKSet.from_json(json.dumps(keys.public_jwks()))


def signed_by_jwcrypto(keys: RealmKeys, alg: str, header: dict[str, Any] | None = None) -> str:
    key = keys.signing_key(alg)
    token = jwt.JWT(header=header or {"alg": alg, "kid": key.get("kid")}, claims=CLAIMS)
    token.make_signed_token(key)
    return str(token.serialize())


def signed_with_header(alg: str, header: dict[str, Any], payload: str) -> str:
    """A token of the realm's key for `alg` with any header (jwcrypto refuses to make some)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{payload}"
    return f"{signing_input}.{b64url(KEYS.signers[alg].sign(signing_input.encode()))}"


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_jwcrypto_verifies_what_the_realm_signs(alg: str) -> None:
    token = sign_access_token(KEYS, CLAIMS, typ="at+jwt", alg=alg)
    checked = jws.JWS()
    checked.deserialize(token)
    checked.verify(public_jwks(KEYS), alg=alg)
    assert json.loads(checked.payload) == CLAIMS
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": alg, "typ": "at+jwt", "kid": KEYS.signers[alg].kid}
    assert verify_own_access_token(KEYS, token) == CLAIMS


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_the_realm_accepts_what_jwcrypto_signs_with_its_keys(alg: str) -> None:
    assert verify_own_access_token(KEYS, signed_by_jwcrypto(KEYS, alg)) == CLAIMS
    # without a kid, the key of the algorithm
    assert verify_own_access_token(KEYS, signed_by_jwcrypto(KEYS, alg, {"alg": alg})) == CLAIMS


@pytest.mark.parametrize("alg", SIGNING_ALGS)
def test_anything_else_is_refused(alg: str) -> None:
    token = sign_access_token(KEYS, CLAIMS, alg=alg)
    header, payload, signature = token.split(".")
    refused = [
        sign_access_token(OTHER, CLAIMS, alg=alg),  # another realm's key
        f"{header}.{b64url(json.dumps({**CLAIMS, 'sub': 'admin'}).encode())}.{signature}",
        f"{header}.{payload}.{b64url(b64url_decode(signature)[:-1] + b'x')}",
        f"{header}.{payload}.",
        f"{header}.{payload}",
        signed_by_jwcrypto(KEYS, alg, {"alg": alg, "kid": "another"}),
        # RFC 7515 §4.1.11: an extension marked critical that the server does not know
        signed_with_header(alg, {"alg": alg, "crit": ["x-unknown"], "x-unknown": 1}, payload),
        # alg "none", and HS256 keyed with public key text (key confusion)
        f"{NONE}.{payload}.",
        f"{ALG_LIST}.{payload}.{signature}",
        f"{NOT_AN_OBJECT}.{payload}.{signature}",
        # a padded (non-canonical) spelling of the same signature
        f"{header}.{payload}.{signature}==",
    ]
    hs = jwk.JWK(kty="oct", k=b64url(json.dumps(KEYS.public_jwks()).encode()))
    confused = jwt.JWT(header={"alg": "HS256"}, claims=CLAIMS)
    confused.make_signed_token(hs)
    refused.append(str(confused.serialize()))
    # the helper's own token passes: what is refused is the header alone
    assert verify_own_access_token(KEYS, signed_with_header(alg, {"alg": alg}, payload))
    for token in refused:
        with pytest.raises(InvalidToken):
            verify_own_access_token(KEYS, token)


def test_verified_tokens_are_remembered_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = RealmKeys.generate()
    monkeypatch.setattr(tokens, "VERIFIED_MAX", 3)
    signed = [sign_access_token(keys, {**CLAIMS, "n": n}) for n in range(5)]
    for token in signed:
        assert verify_own_access_token(keys, token)["n"] == signed.index(token)
    assert list(keys.verified) == signed[2:]
    # what a caller does to its claims is not remembered
    verify_own_access_token(keys, signed[4])["sub"] = "admin"
    assert verify_own_access_token(keys, signed[4])["sub"] == "c"
    # a remembered token does not make a tampered one pass
    header, _, signature = signed[4].split(".")
    forged = f"{header}.{b64url(json.dumps({**CLAIMS, 'sub': 'admin'}).encode())}.{signature}"
    with pytest.raises(InvalidToken):
        verify_own_access_token(keys, forged)


def test_es256_signatures_are_r_and_s_not_der() -> None:
    # RFC 7518 §3.4: the JWS signature is R || S, 64 bytes for P-256
    token = sign_access_token(KEYS, CLAIMS, alg="ES256")
    assert len(b64url_decode(token.split(".")[2])) == 64


def test_internal_tokens_are_hs256_as_jwcrypto_checks_them() -> None:
    """The keyed HMAC is copied per token, never changed: every token, the first and the
    hundredth, carries the signature an independent implementation computes."""
    key = jwk.JWK(kty="oct", k=b64url(KEYS.hmac_key))
    claims = {**CLAIMS, "typ": "internal", "jti": "j", "iss": "http://testserver/realms/r"}
    for n in range(100):
        token = tokens.sign_internal(KEYS, {**claims, "n": n})
        checked = jws.JWS()
        checked.deserialize(token)
        checked.verify(key, alg="HS256")
        assert json.loads(checked.payload)["n"] == n
        issuer = "http://testserver/realms/r"
        assert tokens.verify_internal(KEYS, token, "internal", issuer, 0)["n"] == n
    with pytest.raises(InvalidToken):
        tokens.verify_internal(OTHER, tokens.sign_internal(KEYS, claims), "internal", issuer, 0)

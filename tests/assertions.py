"""Client keys and `private_key_jwt` assertions (RFC 7523 §2.2) for the tests."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from jwcrypto import jwk, jws

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def new_key(alg: str) -> jwk.JWK:
    if alg in ("RS256", "PS256"):
        key = jwk.JWK.generate(kty="RSA", size=2048)
    elif alg == "ES256":
        key = jwk.JWK.generate(kty="EC", crv="P-256")
    else:
        key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
    return jwk.JWK(**{**json.loads(key.export_private()), "kid": key.thumbprint()})


def public_jwks(*keys: jwk.JWK) -> dict[str, Any]:
    return {"keys": [json.loads(key.export_public()) for key in keys]}


def assertion(
    key: jwk.JWK | None,
    client_id: str,
    audience: str | list[str],
    *,
    alg: str = "RS256",
    lifetime: int = 60,
    jti: str | None = None,
    **claims: Any,
) -> str:
    """A signed client assertion; `key` None with alg "none" makes an unsigned one."""
    now = int(time.time())
    payload = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16) if jti is None else jti,
        **claims,
    }
    text = json.dumps(payload)
    if key is None:
        return f"{_part(json.dumps({'alg': alg}).encode())}.{_part(text.encode())}."
    signed = jws.JWS(text.encode())
    header = {"alg": alg}
    if key.get("kid"):
        header["kid"] = key["kid"]
    signed.add_signature(key, alg=None, protected=json.dumps(header))
    return str(signed.serialize(compact=True))


def assertion_form(token: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": token, **extra}


def _part(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jti_of(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])

"""Who is calling: the Authorization header → a Credential (RFC 6750 §2.1, Keycloak's token kinds).

A request carries nothing (anonymous), an initial access token, a registration access token, or
a bearer access token of this realm or of a trusted issuer. Only the shape and signature are
checked here; whether a RAT or IAT is still live is decided against the store by the services.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from app.errors import InvalidToken
from app.tokens import (
    INITIAL_ACCESS_TOKEN,
    REGISTRATION_ACCESS_TOKEN,
    RealmKeys,
    peek_claims,
    verify_internal,
)

Kind = Literal["anonymous", "initial_access_token", "registration_access_token", "bearer"]

MANAGE_CLIENTS = "manage-clients"
VIEW_CLIENTS = "view-clients"
CREATE_CLIENT = "create-client"
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class Credential:
    kind: Kind
    token: str = ""
    jti: str = ""
    roles: frozenset[str] = frozenset()
    subject: str = ""  # client id of a bearer (azp), for logs and audit

    @property
    def registration_auth(self) -> Literal["anonymous", "authenticated"]:
        """Which policy set governs a new registration made with this credential."""
        return "anonymous" if self.kind == "anonymous" else "authenticated"


ANONYMOUS = Credential("anonymous")


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer TOKEN`, None without the header; malformed → 401."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    # RFC 6750 §2.1 and RFC 7235 §2.1: the auth-scheme is case-insensitive
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("Malformed Authorization header: expected 'Bearer <token>'")
    if _B64TOKEN.fullmatch(token) is None:
        raise InvalidToken("Malformed bearer token")
    return token


def identify(keys: RealmKeys, issuer: str, token: str | None, now: int) -> Credential:
    """Classify and verify an internal token; anything else is handed back as an unchecked bearer.

    The caller verifies `kind == "bearer"` credentials with app.bearer before trusting roles.
    """
    if token is None:
        return ANONYMOUS
    claims = peek_claims(token)
    if claims is None:
        raise InvalidToken("Malformed token")
    typ = claims.get("typ")
    if typ in (INITIAL_ACCESS_TOKEN, REGISTRATION_ACCESS_TOKEN):
        verified = verify_internal(keys, token, str(typ), issuer, now)
        kind: Kind = (
            "initial_access_token" if typ == INITIAL_ACCESS_TOKEN else "registration_access_token"
        )
        return Credential(kind, token=token, jti=str(verified["jti"]))
    return Credential("bearer", token=token)

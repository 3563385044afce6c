"""Who is calling: the Authorization header → a Caller (RFC 6750 §2.1, Keycloak's token kinds).

A request carries nothing (anonymous), an initial access token, a registration access token, or
a bearer access token of this realm or of a trusted issuer. Only the shape and signature are
checked here; whether a RAT or IAT is still live is decided against the store by the services.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from app.auth.tokens import (
    INITIAL_ACCESS_TOKEN,
    REGISTRATION_ACCESS_TOKEN,
    RealmKeys,
    peek_claims,
    verify_internal,
)
from app.errors import InvalidToken

# "operator": the command line, acting on the database directly (app.auth.roles.OPERATOR)
Kind = Literal[
    "anonymous", "initial_access_token", "registration_access_token", "bearer", "operator"
]
RegistrationAuth = Literal["anonymous", "authenticated"]

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the verified token the request carried (if any) and where it came from."""

    kind: Kind
    token: str = ""
    jti: str = ""
    roles: frozenset[str] = frozenset()
    subject: str = ""  # client id of a bearer (azp), for logs and audit
    expires_at: int = 0  # of an expiring initial access token or a bearer; 0: does not expire
    host: str = ""  # peer IP address as the server sees it ("127.0.0.1", "203.0.113.7")
    issuer: str = ""  # of a bearer: who issued it (this realm, or a trusted issuer)
    # set for a RAT acting on its client: how that client registered
    registered_as: RegistrationAuth | None = None
    # a bearer that is a signed-in person's access token: the username (`sub`), and the grant
    # family it belongs to (`sid`), which ends with the person's consent or sign-out
    user: str = ""
    grant: str = ""

    def at(self, host: str) -> Caller:
        """This caller, seen from `host` (dataclasses.replace costs ten times more: hot path)."""
        return Caller(
            self.kind, self.token, self.jti, self.roles, self.subject, self.expires_at, host,
            self.issuer, self.registered_as, self.user, self.grant,
        )  # fmt: skip

    def acting_as(self, registered_as: RegistrationAuth) -> Caller:
        """This caller (a RAT) under the policy set its client registered under."""
        return Caller(
            self.kind, self.token, self.jti, self.roles, self.subject, self.expires_at, self.host,
            self.issuer, registered_as, self.user, self.grant,
        )  # fmt: skip

    @property
    def auth(self) -> RegistrationAuth:
        """Which registration policy set governs this caller.

        Keycloak's rule: a registration access token acts under the set its client registered
        under; anyone else under `anonymous` without a token, `authenticated` with one."""
        if self.registered_as is not None:
            return self.registered_as
        return "anonymous" if self.kind == "anonymous" else "authenticated"


ANONYMOUS = Caller("anonymous")
INTERNAL_KINDS = frozenset({"initial_access_token", "registration_access_token"})


class VerifiedTokens:
    """Initial and registration access tokens this process has verified, per realm.

    Their verification depends only on the token text and the realm's fixed key (HMAC, typ,
    issuer path) — and on the clock, for an expiration, which is checked again on every use. A
    client presents the same token again and again (an IAT for many registrations, its RAT for
    every read), so the check is done once. Whether the token is still live (spent, rotated,
    deleted) is decided against the store on every request, as before. Bounded: at most
    MAX_ENTRIES, then it starts over.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], Caller] = {}

    def get(self, realm: str, token: str, now: int) -> Caller | None:
        found = self._known.get((realm, token))
        if found is None or (found.expires_at and found.expires_at <= now):
            return None
        return found

    def add(self, realm: str, credential: Caller) -> None:
        if credential.kind not in INTERNAL_KINDS:
            return
        if len(self._known) >= self.MAX_ENTRIES:
            self._known.clear()
        self._known[(realm, credential.token)] = credential


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


def identify(keys: RealmKeys, issuer: str, token: str | None, now: int) -> Caller:
    """Classify and verify an internal token; anything else is handed back as an unchecked bearer.

    The caller verifies `kind == "bearer"` credentials with app.auth.bearer before trusting roles.
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
        expires = verified.get("exp")
        return Caller(
            kind,
            token=token,
            jti=str(verified["jti"]),
            expires_at=expires if isinstance(expires, int) else 0,
        )
    return Caller("bearer", token=token)

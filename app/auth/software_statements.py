"""Software statements (RFC 7591 §2.3): a JWS in which a vendor the realm trusts vouches for
the metadata of its client software.

The statement is verified against the key set of the issuer its `iss` names among the realm's
`software_statements.trusted_issuers` (inline `jwks`, or `jwks_uri` fetched and cached by
app.auth.bearer.TrustedKeys, the same cache logic as trusted issuers' access tokens).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from app.auth.bearer import TrustedKeys
from app.auth.secret_values import b64url_decode
from app.auth.tokens import MAX_TOKEN_LENGTH, peek_claims, verify_rs256
from app.config.realm_models import SoftwareStatementsConfig, TrustedIssuer
from app.errors import InvalidSoftwareStatement, InvalidToken, UnapprovedSoftwareStatement
from app.jsonio import JsonDecodeError, loads

# Asymmetric algorithms only: `none` and HS* would let anyone who knows (or guesses) a shared
# value mint a statement.
ACCEPTED_ALGS = ("RS256", "PS256", "ES256", "EdDSA")
LEEWAY = 60  # seconds of clock difference allowed on exp, nbf and iat


class StatementVerifier:
    """Verifies software statements of every realm; holds the cache of issuers' key sets."""

    def __init__(self, keys: TrustedKeys | None = None) -> None:
        self._keys = keys if keys is not None else TrustedKeys()

    async def verify(
        self, config: SoftwareStatementsConfig, statement: object, now: int
    ) -> dict[str, Any]:
        """The statement's verified claims (400 invalid_ / unapproved_software_statement)."""
        if not isinstance(statement, str) or not statement:
            raise InvalidSoftwareStatement("software_statement must be a signed JWT (a string)")
        issuer = _trusted_issuer(config, statement)
        if issuer.jwks_uri is not None:
            # a fetch of the issuer's keys blocks: off the event loop
            return await asyncio.to_thread(self._verified, issuer, statement, now)
        return self._verified(issuer, statement, now)

    def _verified(self, issuer: TrustedIssuer, statement: str, now: int) -> dict[str, Any]:
        try:
            kid = _header(statement).get("kid")
            keys = self._keys.key_set(issuer, kid if isinstance(kid, str) else None)
        except InvalidToken as exc:
            raise InvalidSoftwareStatement(
                f"The keys of issuer {issuer.issuer} cannot be fetched or read; try again later"
            ) from exc
        try:
            claims = verify_rs256(keys, statement)
        except InvalidToken as exc:
            raise InvalidSoftwareStatement(
                f"The software statement's signature does not verify with the keys of "
                f"{issuer.issuer}"
            ) from exc
        if claims.get("iss") != issuer.issuer:  # the signed claims, not the peeked ones, decide
            raise InvalidSoftwareStatement("The software statement's iss is not its signer")
        _check_times(claims, now)
        return claims


def _trusted_issuer(config: SoftwareStatementsConfig, statement: str) -> TrustedIssuer:
    header = _header(statement)
    alg = header.get("alg")
    if alg not in ACCEPTED_ALGS:
        raise InvalidSoftwareStatement(
            f"The software statement's alg {str(alg)[:20]!r} is not accepted: use one of "
            + ", ".join(ACCEPTED_ALGS)
        )
    claims = peek_claims(statement)
    if claims is None:
        raise InvalidSoftwareStatement("The software statement is not a well-formed JWS")
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        # RFC 7591 §2.3: "the software statement MUST contain an "iss" (issuer) claim"
        raise InvalidSoftwareStatement("The software statement has no iss (issuer) claim")
    for issuer in config.trusted_issuers:
        if issuer.issuer == iss:
            return issuer
    raise UnapprovedSoftwareStatement(
        f"Software statements of issuer {iss[:200]} are not approved by this realm"
    )


def _header(statement: str) -> Mapping[str, Any]:
    parts = statement.split(".")
    if len(parts) != 3 or len(statement) > MAX_TOKEN_LENGTH:
        raise InvalidSoftwareStatement(
            "The software statement is not a JWS in compact serialization (three parts)"
        )
    try:
        header = loads(b64url_decode(parts[0]))
    except (ValueError, JsonDecodeError) as exc:
        raise InvalidSoftwareStatement("The software statement's header cannot be read") from exc
    if not isinstance(header, dict):
        raise InvalidSoftwareStatement("The software statement's header is not a JSON object")
    return header


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSoftwareStatement(f"The software statement's {name} is not a number")
    return float(value)


def _check_times(claims: Mapping[str, Any], now: int) -> None:
    expires = _number(claims, "exp")
    if expires is not None and expires + LEEWAY <= now:
        raise InvalidSoftwareStatement("The software statement has expired")
    not_before = _number(claims, "nbf")
    if not_before is not None and not_before - LEEWAY > now:
        raise InvalidSoftwareStatement("The software statement is not valid yet (nbf)")
    issued = _number(claims, "iat")
    if issued is not None and issued - LEEWAY > now:
        raise InvalidSoftwareStatement("The software statement was issued in the future (iat)")

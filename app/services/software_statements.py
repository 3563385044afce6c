"""What a software statement (RFC 7591 §2.3) does to a registration or an update: its claims
override the body's members, `required` refuses a body without one, and `policy_set` picks the
policy set an anonymous registration carrying one runs through (docs/reference.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.auth.callers import Caller
from app.auth.roles import TO_CREATE_CLIENTS
from app.auth.software_statements import StatementVerifier
from app.auth.tokens import peek_claims
from app.config.realm_models import RealmConfig
from app.errors import InvalidSoftwareStatement

STATEMENT = "software_statement"
# JWT claims about the statement itself (RFC 7519 §4.1), and what only the server sets: never
# client metadata, so never copied into the registration
NOT_METADATA = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        STATEMENT,
        "client_id",
        "client_secret",
        "client_id_issued_at",
        "client_secret_expires_at",
        "registration_access_token",
        "registration_client_uri",
    }
)


class SoftwareStatements:
    def __init__(self, verifier: StatementVerifier | None = None) -> None:
        self._verifier = verifier if verifier is not None else StatementVerifier()

    async def on_register(
        self, realm: RealmConfig, caller: Caller, body: Mapping[str, Any], now: int
    ) -> tuple[Mapping[str, Any], Caller]:
        """The body with the statement's claims laid over it, and the caller as the policies
        see it: under `policy_set` if it registers anonymously with a valid statement."""
        config = realm.software_statements
        if body.get(STATEMENT) is None:  # absent, or null: ignored (RFC 7592 §2.2)
            if config.required and not _is_admin(caller):
                raise InvalidSoftwareStatement(
                    "This realm registers only clients that present a software_statement"
                )
            return body, caller
        claims = await self._verifier.verify(config, body[STATEMENT], now)
        if caller.kind == "anonymous" and config.policy_set == "authenticated":
            caller = caller.acting_as("authenticated")
        return _overlaid(body, claims), caller

    async def on_update(
        self,
        realm: RealmConfig,
        caller: Caller,
        stored: Mapping[str, Any],
        body: Mapping[str, Any],
        now: int,
    ) -> Mapping[str, Any]:
        """RFC 7592 §2.2 replaces the metadata; a new statement is verified as on registration.
        Without one, or with the stored one sent back, the stored statement stays and its claims
        keep their precedence: what a vendor vouched for is not changed without the vendor."""
        kept = stored.get(STATEMENT)
        if body.get(STATEMENT) is not None and body[STATEMENT] != kept:
            claims = await self._verifier.verify(realm.software_statements, body[STATEMENT], now)
            return _overlaid(body, claims)
        if isinstance(kept, str):
            # verified when it was stored (an expiry since does not undo the registration); sent
            # back as it is, or left out
            return _overlaid({**body, STATEMENT: kept}, peek_claims(kept) or {})
        if realm.software_statements.required and not _is_admin(caller):
            raise InvalidSoftwareStatement(
                "This realm keeps only clients that present a software_statement"
            )
        return body


def _overlaid(body: Mapping[str, Any], claims: Mapping[str, Any]) -> dict[str, Any]:
    # RFC 7591 §2.3: "If the same client metadata name is present in both locations and the
    # software statement is trusted by the authorization server, the value of a claim in the
    # software statement MUST take precedence."
    vouched = {name: value for name, value in claims.items() if name not in NOT_METADATA}
    return {**body, **vouched}


def _is_admin(caller: Caller) -> bool:
    """An admin (the operator, or a bearer that may create clients) vouches for a client
    itself: `required` asks a statement of anonymous and initial-access-token registrations."""
    return caller.kind == "operator" or (
        caller.kind == "bearer" and bool(caller.roles & TO_CREATE_CLIENTS)
    )

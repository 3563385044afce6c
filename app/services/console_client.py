"""The console as a client of its own realm, as Keycloak's `security-admin-console` is: people
sign in to the console through the realm's authorization endpoint and login page (RFC 6749
§4.1 with PKCE, RFC 7636, and a nonce, OIDC Core §3.1.2.1), so whatever way the realm signs
people in works for the console too. The client is built in: it is not stored, cannot be
registered over, and is public (no secret), with the console's callback as its one redirect URI.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import urlencode

from app.auth.keyring import Keyring
from app.auth.tokens import verify_own_access_token
from app.config.realm_models import RealmConfig
from app.errors import InvalidGrant, InvalidToken
from app.jsonio import dumps
from app.services.token_endpoint import AuthenticatedClient
from app.services.user_tokens import UserTokens, s256
from app.store.queries import ClientRow

CONSOLE_CLIENT_ID = "security-admin-console"  # Keycloak's name for its console's client
CONSOLE_SCOPE = "openid"
CONSOLE_CLIENT = AuthenticatedClient(
    CONSOLE_CLIENT_ID,
    (),
    CONSOLE_SCOPE,
    ("authorization_code",),
    False,
    public=True,
    full_scope_allowed=True,  # the person's realm-management roles decide what the console shows
)


def callback_uri(issuer: str) -> str:
    return f"{issuer}/console/callback"


def builtin_client(realm: str, client_id: str, issuer: str) -> ClientRow | None:
    """The console's client of `realm` when `client_id` names it, else None."""
    if client_id != CONSOLE_CLIENT_ID:
        return None
    metadata = {
        "client_name": "registrar console",
        "redirect_uris": [callback_uri(issuer)],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": CONSOLE_SCOPE,
    }
    return ClientRow(
        client_id=CONSOLE_CLIENT_ID,
        realm=realm,
        metadata_json=dumps(metadata).decode(),
        secret_sealed=None,
        rat_digest="",
        registration_auth="authenticated",
        enabled=True,
        consent_required=False,
        full_scope_allowed=True,
        created_at=0,
        updated_at=0,
    )


class ConsoleSignin:
    """The console's side of the code flow: the authorization request, and the code's
    redemption, in-process, through the token endpoint's own grant."""

    def __init__(
        self, user_tokens: UserTokens, keyring: Keyring, issuer: Callable[[str], str]
    ) -> None:
        self._user_tokens = user_tokens
        self._keyring = keyring
        self._issuer = issuer

    def authorization_url(self, realm: RealmConfig, state: str, verifier: str, nonce: str) -> str:
        issuer = self._issuer(realm.name)
        query = {
            "client_id": CONSOLE_CLIENT_ID,
            "redirect_uri": callback_uri(issuer),
            "response_type": "code",
            "scope": CONSOLE_SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        return f"{issuer}/protocol/openid-connect/auth?{urlencode(query)}"

    async def redeem(
        self, realm: RealmConfig, code: str, verifier: str, nonce: str, now: int
    ) -> tuple[str, int]:
        """The person's access token for the console and its lifetime in seconds."""
        form = {
            "code": code,
            "redirect_uri": callback_uri(self._issuer(realm.name)),
            "code_verifier": verifier,
        }
        reply = await self._user_tokens.authorization_code(realm, CONSOLE_CLIENT, form, now)
        try:
            claims = verify_own_access_token(await self._keyring.get(realm.name), reply["id_token"])
        except (InvalidToken, KeyError) as exc:
            raise InvalidGrant("The sign-in gave no ID token") from exc
        # OIDC Core §3.1.3.7: "The Client MUST verify that the nonce Claim Value is equal to
        # the value of the nonce parameter sent in the Authentication Request."
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
            raise InvalidGrant("The ID token's nonce is not this sign-in's")
        token: str = reply["access_token"]
        lifetime: int = reply["expires_in"]
        return token, lifetime

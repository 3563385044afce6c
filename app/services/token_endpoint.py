"""Token endpoint (RFC 6749 §4.4 client_credentials, §2.3.1 client auth) and RFC 7662 introspection.

Service accounts of the realm file get tokens carrying their realm-management roles; registered,
enabled confidential clients whose grant_types include client_credentials get tokens with their
registered scope and no admin roles.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from app.auth.callers import Caller
from app.auth.client_assertions import asserted_client_id
from app.auth.keyring import Keyring
from app.auth.secret_box import SecretBox
from app.auth.secret_values import same_secret
from app.auth.tokens import (
    peek_claims,
    sign_access_token,
    token_claims,
    verify_own_access_token,
)
from app.config.realm_models import RealmConfig
from app.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    ServiceUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from app.services.client_documents import ClientDocuments, DocumentRefused
from app.services.client_expiry import ClientUses
from app.services.private_key_jwt import PrivateKeyJwt, uses_assertion
from app.services.rate_limits import RateLimiter
from app.store.queries import ClientRow, Store, is_key

ACCESS_TOKEN_SECONDS = 300


@dataclass(frozen=True)
class AuthenticatedClient:
    client_id: str
    roles: tuple[str, ...]
    scope: str | None  # registered scope of a registered client; None for a service account
    grant_types: tuple[str, ...]
    service_account: bool
    tokens_valid_after: int = 0  # a registered client's: its tokens with iat <= this are inactive
    public: bool = False  # token_endpoint_auth_method none: identified by client_id alone
    # Keycloak's fullScopeAllowed: a person's tokens for this client carry their realm roles
    full_scope_allowed: bool = False
    # an introspecting client's row was read along with this token id's revocation (one
    # query for both); `jti_revoked` is what it found. "" when nothing was looked up
    checked_jti: str = ""
    jti_revoked: bool = False


def client_credentials_from(authorization: str | None, form: Mapping[str, str]) -> tuple[str, str]:
    """RFC 6749 §2.3.1: client_secret_basic or client_secret_post, never both."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() == "basic":
        if "client_secret" in form:
            # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method
            # in each request."
            raise InvalidRequest("Use one client authentication method, not two")
        client_id, secret = _basic_credentials(credentials.strip())
        if "client_id" in form and form["client_id"] != client_id:
            raise InvalidRequest("client_id differs from the client authenticated by Basic")
        return client_id, secret
    if form.get("client_id") and form.get("client_secret"):
        return form["client_id"], form["client_secret"]
    raise InvalidClient("Client authentication is required")


def claimed_client_id(authorization: str | None, form: Mapping[str, str]) -> str:
    """The client id a token request claims (Basic, or the form's client_id), before anything
    is checked: what the realm's `token` rate limit counts."""
    if uses_assertion(form) and "client_id" not in form:
        try:
            return asserted_client_id(form.get("client_assertion", ""))
        except InvalidClient:
            return ""
    try:
        return client_credentials_from(authorization, form)[0]
    except (InvalidClient, InvalidRequest):
        return form.get("client_id", "")


# a pure function of the header, asked twice per token request (the rate limit's client id, then
# authentication); the secrets it holds are the ones the process opens from the database anyway
@functools.lru_cache(maxsize=1024)
def _basic_credentials(credentials: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
        raise InvalidClient("Malformed Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient("Malformed Basic credentials")
    # RFC 6749 §2.3.1: the client identifier and password are encoded using the
    # "application/x-www-form-urlencoded" algorithm before Basic encoding
    return unquote_plus(client_id), unquote_plus(secret)


class TokenEndpoint:
    """Client authentication, client_credentials tokens and introspection of every realm."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        keyring: Keyring,
        issuer: Callable[[str], str],
        uses: ClientUses | None = None,
        limiter: RateLimiter | None = None,
        family_live: Callable[[str, str], Awaitable[bool]] | None = None,
        documents: ClientDocuments | None = None,
        assertions: PrivateKeyJwt | None = None,
    ) -> None:
        self._store = store
        self._documents = documents  # clients named by their metadata document's URL
        self._assertions = assertions  # private_key_jwt
        self._uses = uses
        self._limiter = limiter
        self._box = box
        self._keyring = keyring
        self._issuer = issuer
        # whether a user's grant family (the `sid` of its access tokens) is still live
        self._family_live = family_live

    async def authenticate_request(
        self, realm: RealmConfig, authorization: str | None, form: Mapping[str, str]
    ) -> AuthenticatedClient:
        """The client of a token or revocation request: a public client by its client_id alone
        (RFC 6749 §3.2.1: "A client MAY use the "client_id" request parameter to identify
        itself when sending requests to the token endpoint"), any other by its credentials."""
        has_basic = (authorization or "").strip().lower().startswith("basic ")
        client_id = form.get("client_id")
        if uses_assertion(form):
            if has_basic or "client_secret" in form:
                # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method
                # in each request."
                raise InvalidRequest("Use one client authentication method, not two")
            if self._assertions is None:
                raise InvalidClient("Client assertions are not accepted")
            signed = await self._assertions.authenticate(realm, form, int(time.time()))
            metadata = signed.metadata()
            return AuthenticatedClient(
                signed.client_id,
                (),
                metadata.get("scope"),
                tuple(metadata.get("grant_types", ())),
                False,
                signed.tokens_valid_after,
            )
        if not has_basic and client_id and "client_secret" not in form:
            row = await self._public_client(realm, client_id)
            if row is not None and row.enabled:
                metadata = row.metadata()
                if metadata.get("token_endpoint_auth_method") == "none":
                    return AuthenticatedClient(
                        client_id,
                        (),
                        metadata.get("scope"),
                        tuple(metadata.get("grant_types", ())),
                        False,
                        row.tokens_valid_after,
                        public=True,
                        full_scope_allowed=row.full_scope_allowed,
                    )
            raise InvalidClient("Invalid client credentials")
        client_id, secret = client_credentials_from(authorization, form)
        return await self.authenticate_client(realm, client_id, secret)

    async def _public_client(self, realm: RealmConfig, client_id: str) -> ClientRow | None:
        if self._documents is not None:
            try:
                return await self._documents.find(realm, client_id)
            except DocumentRefused as exc:
                raise InvalidClient(exc.description) from exc
        return await self._store.get_client(realm.name, client_id) if is_key(client_id) else None

    async def count_request(self, realm: RealmConfig, client_id: str, now: int) -> None:
        """A token request of `client_id`, right or wrong: 429 past the realm's `token` rate."""
        if self._limiter is not None:
            await self._limiter.check(realm, "token", client_id, now)

    async def authenticate_introspector(
        self, realm: RealmConfig, client_id: str, secret: str, token: str | None
    ) -> AuthenticatedClient:
        """The client of an introspection request; a registered client's row is read with the
        revocation of the token id the (not yet verified) token names, so that introspecting
        one's own token costs one query. `introspect` uses that answer only for the same id in
        the verified claims."""
        claims = peek_claims(token) if token else None
        jti = claims.get("jti") if claims is not None else None
        return await self.authenticate_client(
            realm, client_id, secret, revocation_of=jti if isinstance(jti, str) else ""
        )

    async def authenticate_client(
        self, realm: RealmConfig, client_id: str, secret: str, revocation_of: str = ""
    ) -> AuthenticatedClient:
        for account in realm.service_accounts:
            if account.client_id == client_id:
                if not same_secret(secret, account.secret):
                    break
                return AuthenticatedClient(
                    client_id, tuple(account.roles), None, ("client_credentials",), True
                )
        else:
            revoked = False
            if revocation_of:
                row, revoked = await self._store.get_client_and_revoked(
                    realm.name, client_id, revocation_of
                )
            else:
                row = await self._store.get_client(realm.name, client_id)
            if row is not None and row.enabled and row.secret_sealed:
                stored = self._box.unseal(row.secret_sealed, row.client_id)
                if same_secret(secret, stored):
                    metadata = row.metadata()
                    return AuthenticatedClient(
                        client_id,
                        (),
                        metadata.get("scope"),
                        tuple(metadata.get("grant_types", ())),
                        False,
                        row.tokens_valid_after,
                        full_scope_allowed=row.full_scope_allowed,
                        checked_jti=revocation_of,
                        jti_revoked=revoked,
                    )
        # RFC 6749 §5.2 invalid_client: "If the client attempted to authenticate via the
        # "Authorization" request header field, the authorization server MUST respond with an
        # HTTP 401 (Unauthorized) status code and include the "WWW-Authenticate" response header
        # field matching the authentication scheme used by the client" (InvalidClient.headers)
        raise InvalidClient("Invalid client credentials")

    async def issue_token(
        self,
        realm: RealmConfig,
        client: AuthenticatedClient,
        form: Mapping[str, str],
        now: int,
    ) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required")
        if grant_type != "client_credentials":
            raise UnsupportedGrantType(f"Grant type '{grant_type}' is not supported")
        if "client_credentials" not in client.grant_types:
            raise UnauthorizedClient("The client is not registered for client_credentials")
        if now <= client.tokens_valid_after:
            # re-enabled within the second of its last disable, as this process's clock tells
            # (the admin's enable waits for that second to pass; another host's clock may be
            # ahead): a token issued now would be inactive from birth, so none is issued yet
            raise ServiceUnavailable("The client was re-enabled a moment ago; retry shortly")
        scope = _granted_scope(realm, client, form.get("scope"))
        audience = "realm-management" if client.roles else None
        claims = token_claims(self._issuer(realm.name), "Bearer", now, audience=audience)
        claims.update(
            sub=client.client_id,
            azp=client.client_id,
            client_id=client.client_id,
            exp=now + ACCESS_TOKEN_SECONDS,
        )
        if scope:
            claims["scope"] = scope
        if client.roles:
            claims["resource_access"] = {"realm-management": {"roles": list(client.roles)}}
        keys = await self._keyring.get(realm.name)
        token = sign_access_token(keys, claims, alg=realm.tokens.signing_alg)
        if self._uses is not None and not client.service_account:
            self._uses.note(realm, client.client_id, now)  # a use (client_expiry)
        reply: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        }
        if scope:
            reply["scope"] = scope
        return reply

    async def introspect(
        self,
        realm: RealmConfig,
        token: str | None,
        now: int,
        caller: AuthenticatedClient | None = None,
    ) -> dict[str, Any]:
        """RFC 7662 §2.2: active only for a live token of this realm whose client is still live.
        `caller`, the client authenticated for this request, stands in for a second read of its
        row when the token is its own (what a resource server introspecting its tokens sends)."""
        if not token:
            raise InvalidRequest("token is required")
        # RFC 7662 §2.2: for a token that "is not active, does not exist on this server, or the
        # protected resource is not allowed to introspect", the server "MUST return an
        # introspection response with the "active" field set to "false"" — and nothing else here
        try:
            claims = verify_own_access_token(await self._keyring.get(realm.name), token)
        except InvalidToken:
            return {"active": False}
        exp = claims.get("exp")
        if claims.get("iss") != self._issuer(realm.name) or not isinstance(exp, int) or exp <= now:
            return {"active": False}
        azp, iat = str(claims.get("azp", "")), claims.get("iat")
        if not await self._client_still_live(realm, azp, iat, caller):
            return {"active": False}
        if await self._revoked(realm, str(claims.get("jti", "")), caller):
            return {"active": False}
        family = claims.get("sid")
        if family is not None and not (
            self._family_live and await self._family_live(realm.name, str(family))
        ):
            return {
                "active": False
            }  # a user's token whose grant was revoked (docs/reference.md §6)
        reply = {"active": True, "token_type": "Bearer"}
        for name in ("client_id", "scope", "exp", "iat", "sub", "iss", "aud", "jti", "username"):
            if name in claims:
                reply[name] = claims[name]
        return reply

    async def revoke(self, realm: RealmConfig, caller: Caller) -> None:
        """End the caller's own access token now (a console sign-out): it is refused as a
        bearer and inactive at introspection from here on, in every process."""
        if caller.kind == "bearer" and caller.issuer == self._issuer(realm.name):
            await self._store.revoke_token(realm.name, caller.jti, caller.expires_at)

    async def _revoked(
        self, realm: RealmConfig, jti: str, caller: AuthenticatedClient | None
    ) -> bool:
        """Whether token id `jti` is revoked: the answer read along with the caller's row when
        it asked about this very id, a query otherwise."""
        if caller is not None and jti and caller.checked_jti == jti:
            return caller.jti_revoked
        return await self._store.is_revoked(realm.name, jti)

    async def _client_still_live(
        self,
        realm: RealmConfig,
        client_id: str,
        iat: Any,
        caller: AuthenticatedClient | None = None,
    ) -> bool:
        """A service account of the realm file, or a registered client that is enabled and was
        not disabled after the token was issued (re-enabling revives no token)."""
        if any(a.client_id == client_id for a in realm.service_accounts):
            return True
        if caller is not None and not caller.service_account and caller.client_id == client_id:
            # the row this request authenticated with, read moments ago: enabled (a disabled
            # client does not authenticate), and its tokens_valid_after
            valid_after = caller.tokens_valid_after
        else:
            row = await self._store.get_client(realm.name, client_id) if client_id else None
            if row is None or not row.enabled:
                return False
            valid_after = row.tokens_valid_after
        # iat is whole seconds: a token issued in the second of the disable counts as before it
        return isinstance(iat, int) and not isinstance(iat, bool) and iat > valid_after


def _granted_scope(
    realm: RealmConfig, client: AuthenticatedClient, requested: str | None
) -> str | None:
    """RFC 6749 §3.3: the requested scope, within what the client may have; none asked, all."""
    if client.service_account:
        allowed = list(realm.all_scopes)
        if not requested:
            return None
    else:
        allowed = (client.scope or "").split()
        if not requested:
            return " ".join(allowed) or None
    asked = requested.split()
    unknown = [s for s in asked if s not in allowed]
    if unknown:
        raise InvalidScope(f"Scope not available to this client: {unknown[0]}"[:200])
    return " ".join(dict.fromkeys(asked))

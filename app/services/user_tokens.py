"""Tokens of signed-in users (docs/reference.md §6): the authorization_code and refresh_token
grants (RFC 6749 §4.1.3, §6), revocation (RFC 7009), userinfo (OIDC Core §5.3).

Everything one code leads to is one grant family: its refresh tokens, and the access tokens that
carry the family id as `sid`. A code used twice, or a rotated-out refresh token presented again,
revokes the family (RFC 6749 §4.1.2, RFC 9700 §4.14.2): every token in it stops working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from app.auth.keyring import Keyring
from app.auth.secret_values import token_digest
from app.auth.tokens import sign_access_token, verify_own_access_token
from app.config.realm_models import RealmConfig
from app.errors import InvalidGrant, InvalidRequest, InvalidScope, InvalidToken, UnauthorizedClient
from app.rules.authorization_request import valid_code_verifier
from app.services.people import People, Person
from app.services.token_endpoint import AuthenticatedClient
from app.store.queries import Store
from app.store.signin import NewRefresh, SigninStore


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class UserTokens:
    def __init__(
        self,
        store: Store,
        signin: SigninStore,
        keyring: Keyring,
        issuer: Callable[[str], str],
        people: People,
    ) -> None:
        self._store = store
        self._signin = signin
        self._keyring = keyring
        self._issuer = issuer
        self._people = people

    async def _person(
        self, realm: RealmConfig, subject: str, error: type[Exception] = InvalidGrant
    ) -> Person:
        person = await self._people.find(realm, subject)
        if person is None:
            raise error("The user no longer exists")
        return person

    # --- grants -------------------------------------------------------------------------------

    async def authorization_code(
        self, realm: RealmConfig, client: AuthenticatedClient, form: Mapping[str, str], now: int
    ) -> dict[str, Any]:
        if client.service_account or "authorization_code" not in client.grant_types:
            raise UnauthorizedClient("The client is not registered for authorization_code")
        code = form.get("code")
        if not code:
            raise InvalidRequest("code is required")
        family_id = str(uuid.uuid4())
        row, first_use = await self._signin.redeem_code(
            realm.name, token_digest(code), family_id, now
        )
        if row is None:
            raise InvalidGrant("The code is not valid")
        if not first_use:
            # RFC 6749 §4.1.2: "If an authorization code is used more than once, the
            # authorization server MUST deny the request and SHOULD revoke (when possible) all
            # tokens previously issued based on that authorization code."
            if row.family_id:
                lifetime = max(
                    realm.tokens.access_token_lifespan, realm.tokens.refresh_token_lifespan
                )
                await self._signin.revoke_code_family(realm.name, row, now + lifetime)
            raise InvalidGrant("The code was already used")
        if row.expires_at <= now:
            raise InvalidGrant("The code has expired")
        # RFC 6749 §4.1.3: "ensure that the authorization code was issued to the authenticated
        # confidential client, or if the client is public, ensure that the code was issued to
        # "client_id" in the request"
        if row.client_id != client.client_id:
            raise InvalidGrant("The code was issued to another client")
        # RFC 6749 §4.1.3: "ensure that the "redirect_uri" parameter is present if the
        # "redirect_uri" parameter was included in the initial authorization request [...]
        # and if included ensure that their values are identical"
        if form.get("redirect_uri") != row.redirect_uri:
            raise InvalidGrant("redirect_uri differs from the authorization request's")
        verifier = form.get("code_verifier")
        if row.code_challenge is not None:
            # RFC 7636 §4.6: "If the values are not equal, an error response indicating
            # "invalid_grant" as described in Section 5.2 of [RFC6749] MUST be returned."
            if not verifier or not valid_code_verifier(verifier):
                raise InvalidGrant("code_verifier is missing or malformed")
            if not hmac.compare_digest(s256(verifier), row.code_challenge):
                raise InvalidGrant("code_verifier does not match the code_challenge")
        elif verifier is not None:
            # RFC 9700 §2.1.1: refuse a verifier when the request had no challenge (downgrade)
            raise InvalidGrant("code_verifier without a code_challenge in the request")
        user = await self._person(realm, row.username)
        refresh = "refresh_token" in client.grant_types
        resources = tuple(json.loads(row.resource_json))
        return await self._issue(
            realm, client, user, row.scope, resources, family_id, row.auth_time, now,
            nonce=row.nonce, refresh=refresh, new_family=True,
        )  # fmt: skip

    async def refresh(
        self, realm: RealmConfig, client: AuthenticatedClient, form: Mapping[str, str], now: int
    ) -> dict[str, Any]:
        if client.service_account or "refresh_token" not in client.grant_types:
            raise UnauthorizedClient("The client is not registered for refresh_token")
        presented = form.get("refresh_token")
        if not presented:
            raise InvalidRequest("refresh_token is required")
        digest = token_digest(presented)
        row = await self._signin.get_refresh(realm.name, digest)
        # RFC 6749 §6: the refresh token must have been "issued to the authenticated client"
        if row is None or row.client_id != client.client_id:
            raise InvalidGrant("The refresh token is not valid")
        if row.rotated:
            await self._replayed(realm, row.family_id)
        # before the rotation: once this request has rotated the token, a racing use of the
        # same token revokes the family (below), and must not turn this winner into a refusal
        if row.expires_at <= now or not await self._signin.family_live(realm.name, row.family_id):
            raise InvalidGrant("The refresh token has expired or was revoked")
        if not await self._signin.rotate_refresh(realm.name, digest):
            await self._replayed(realm, row.family_id)
        scope = row.scope
        if form.get("scope"):
            asked = form["scope"].split()
            # RFC 6749 §6: "The requested scope MUST NOT include any scope not originally
            # granted by the resource owner"
            if not set(asked) <= set(row.scope.split()):
                raise InvalidScope("The scope asked for exceeds the original grant")
            scope = " ".join(dict.fromkeys(asked))
        user = await self._person(realm, row.username)
        resources = tuple(json.loads(row.resource_json))
        return await self._issue(
            realm, client, user, scope, resources, row.family_id, row.auth_time, now,
            nonce=None, refresh=True,
        )  # fmt: skip

    async def _replayed(self, realm: RealmConfig, family_id: str) -> NoReturn:
        """RFC 9700 §4.14.2: a rotated-out refresh token presented again means one of two
        parties holds a stolen one: "the authorization server cannot determine which party
        submitted the invalid refresh token, it will revoke the active refresh token"."""
        await self._signin.revoke_family(realm.name, family_id)
        raise InvalidGrant("The refresh token was already used")

    async def _issue(
        self,
        realm: RealmConfig,
        client: AuthenticatedClient,
        user: Person,
        scope: str,
        resources: tuple[str, ...],
        family_id: str,
        auth_time: int,
        now: int,
        *,
        nonce: str | None,
        refresh: bool,
        new_family: bool = False,
    ) -> dict[str, Any]:
        """The token response; `new_family`: a code's first use, whose grant family is stored
        here with its first refresh token (one write)."""
        keys = await self._keyring.get(realm.name)
        issuer = self._issuer(realm.name)
        lifespan = realm.tokens.access_token_lifespan
        # RFC 8707 §2.2 / RFC 9068 §2.2: the audience is the resources asked for
        audience: str | list[str] = (
            list(resources)
            if len(resources) > 1
            else (resources[0] if resources else client.client_id)
        )
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": user.sub,
            "aud": audience,
            "client_id": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + lifespan,
            "jti": str(uuid.uuid4()),
            "auth_time": auth_time,
            "sid": family_id,
        }
        if scope:
            claims["scope"] = scope
        if user.roles and client.full_scope_allowed:
            # where Keycloak puts a user's client roles, and app.auth.bearer reads them
            claims["resource_access"] = {"realm-management": {"roles": list(user.roles)}}
        # RFC 9068 §2.1: "Resource servers MUST verify that the "typ" header value is "at+jwt""
        reply: dict[str, Any] = {
            "access_token": sign_access_token(
                keys, claims, typ="at+jwt", alg=realm.tokens.signing_alg
            ),
            "token_type": "Bearer",
            "expires_in": lifespan,
            "scope": scope,
        }
        if "openid" in scope.split():
            id_claims: dict[str, Any] = {
                "iss": issuer,
                "sub": user.sub,
                "aud": client.client_id,
                "exp": now + lifespan,
                "iat": now,
                "auth_time": auth_time,
                "azp": client.client_id,
                "sid": family_id,
            }
            if nonce is not None:
                # OIDC Core §3.1.3.6: the nonce of the authentication request, unchanged
                id_claims["nonce"] = nonce
            id_claims.update(_profile(user, scope))
            reply["id_token"] = sign_access_token(keys, id_claims, alg=realm.tokens.signing_alg)
        new_refresh = None
        if refresh:
            token = secrets.token_urlsafe(32)
            new_refresh = NewRefresh(
                token_digest(token),
                family_id,
                client.client_id,
                user.sub,
                scope,
                json.dumps(list(resources)),
                auth_time,
                now + realm.tokens.refresh_token_lifespan,
            )  # fmt: skip
            reply["refresh_token"] = token
            reply["refresh_expires_in"] = realm.tokens.refresh_token_lifespan
        if new_family:
            lifetime = max(realm.tokens.access_token_lifespan, realm.tokens.refresh_token_lifespan)
            await self._signin.put_family(
                realm.name, family_id, client.client_id, user.sub, now + lifetime, auth_time,
                first_refresh=new_refresh,
            )  # fmt: skip
        elif new_refresh is not None:
            await self._signin.put_refresh(realm.name, new_refresh)
        return reply

    # --- revocation and userinfo --------------------------------------------------------------

    async def revoke(
        self, realm: RealmConfig, client: AuthenticatedClient, token: str | None, now: int
    ) -> None:
        """RFC 7009 §2.1: end a refresh token's family or an access token; whatever the token,
        the answer is the same (§2.2: "invalid tokens do not cause an error response")."""
        if not token:
            raise InvalidRequest("token is required")
        row = await self._signin.get_refresh(realm.name, token_digest(token))
        if row is not None:
            if row.client_id == client.client_id:
                # RFC 7009 §2.1: revoking a refresh token "SHOULD also invalidate all access
                # tokens based on the same authorization grant"
                await self._signin.revoke_family(realm.name, row.family_id)
            return
        try:
            claims = verify_own_access_token(await self._keyring.get(realm.name), token)
        except InvalidToken:
            return
        exp = claims.get("exp")
        if (
            claims.get("iss") == self._issuer(realm.name)
            and claims.get("client_id") == client.client_id
            and isinstance(exp, int)
            and exp > now
        ):
            await self._store.revoke_token(realm.name, str(claims.get("jti", "")), exp)

    async def userinfo(self, realm: RealmConfig, token: str, now: int) -> dict[str, Any]:
        """OIDC Core §5.3: the claims of the user a live access token was issued for."""
        claims = verify_own_access_token(await self._keyring.get(realm.name), token)
        exp, family = claims.get("exp"), claims.get("sid")
        if claims.get("iss") != self._issuer(realm.name) or not isinstance(exp, int) or exp <= now:
            raise InvalidToken("The access token is expired or not of this realm")
        if not isinstance(family, str) or not await self._signin.family_live(realm.name, family):
            raise InvalidToken("Not a user's access token, or it was revoked")
        if await self._store.is_revoked(realm.name, str(claims.get("jti", ""))):
            raise InvalidToken("The access token was revoked")
        client_id = str(claims.get("client_id", ""))
        row = await self._store.get_client(realm.name, client_id)
        iat = claims.get("iat")
        if (
            row is None
            or not row.enabled
            or not isinstance(iat, int)
            or iat <= row.tokens_valid_after
        ):
            raise InvalidToken("The access token's client is disabled or deleted")
        scope = str(claims.get("scope", ""))
        if "openid" not in scope.split():
            # OIDC Core §5.3.3 / RFC 6750 §3.1: the token does not carry the openid scope
            raise InvalidToken("The access token has no openid scope")
        user = await self._person(realm, str(claims.get("sub", "")), InvalidToken)
        return {"sub": user.sub, **_profile(user, scope)}


def _profile(user: Person, scope: str) -> dict[str, Any]:
    """OIDC Core §5.4: profile gives the name claims, email the email."""
    scopes = scope.split()
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims["preferred_username"] = user.username
        if user.name:
            claims["name"] = user.name
    if "email" in scopes and user.email:
        claims["email"] = user.email
    return claims

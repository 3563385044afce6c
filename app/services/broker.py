"""Signing in at the realm's upstream OpenID provider (Keycloak's identity brokering; OIDC Core
§3.1): the code flow to the upstream with PKCE (RFC 7636), `state` and `nonce`, bound to the
browser that began it; the upstream's ID token verified before anyone is signed in; the user
recorded under a stable `sub`. The authorization request that sent the user there continues.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.auth.secret_box import SecretBox, SecretKeyError
from app.auth.secret_values import same_secret, token_digest
from app.auth.upstream import (
    ProviderMetadata,
    UpstreamClient,
    UpstreamRefused,
    UpstreamUnavailable,
)
from app.config.realm_models import RealmConfig, UpstreamProvider
from app.services.authorization import with_query
from app.services.people import Person, brokered_subject
from app.services.user_tokens import s256
from app.store.broker import BrokeredUserRow, BrokerLoginRow, BrokerStore

LOGIN_SECONDS = 600  # the user has ten minutes at the upstream before the sign-in lapses


class BrokerProblem(Exception):
    """The sign-in at the upstream cannot go on: an HTML page with this status."""

    def __init__(self, description: str, status_code: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status_code = status_code


class BrokerCancelled(Exception):
    """The upstream answered with an error (the user said no there, say): the login page of
    the authorization request comes back, with the reason."""

    def __init__(self, description: str, request_text: str) -> None:
        super().__init__(description)
        self.description = description
        self.request_text = request_text


@dataclass(frozen=True)
class BrokerStart:
    url: str  # the upstream's authorization endpoint, with the request
    browser_value: str  # for the cookie that binds the callback to this browser


@dataclass(frozen=True)
class BrokerResult:
    request_text: str  # the authorization request to continue, form-encoded
    person: Person


class Broker:
    def __init__(
        self,
        upstream: UpstreamClient,
        store: BrokerStore,
        box: SecretBox,
        issuer: Callable[[str], str],
    ) -> None:
        self._upstream = upstream
        self._store = store
        self._box = box
        self._issuer = issuer

    def callback_url(self, realm: RealmConfig, provider: UpstreamProvider) -> str:
        return f"{self._issuer(realm.name)}/broker/{provider.alias}/endpoint"

    async def begin(
        self, realm: RealmConfig, provider: UpstreamProvider, request_text: str, now: int
    ) -> BrokerStart:
        metadata = await self._metadata(provider)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        verifier, browser = secrets.token_urlsafe(48), secrets.token_urlsafe(32)
        state_digest = token_digest(state)
        row = BrokerLoginRow(
            alias=provider.alias,
            browser_digest=token_digest(browser),
            nonce=nonce,
            verifier_sealed=self._box.seal(verifier, f"broker-login {state_digest}"),
            request_text=request_text,
            expires_at=now + LOGIN_SECONDS,
        )
        await self._store.put_login(realm.name, state_digest, row)
        url = with_query(
            metadata.authorization_endpoint,
            {
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": self.callback_url(realm, provider),
                "scope": " ".join(provider.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
            },
        )
        return BrokerStart(url, browser)

    async def finish(
        self,
        realm: RealmConfig,
        provider: UpstreamProvider,
        params: Mapping[str, str],
        browser_value: str | None,
        now: int,
    ) -> BrokerResult:
        """The person the upstream's answer signs in; BrokerProblem or BrokerCancelled."""
        state = params.get("state", "")
        if not state or len(state) > 200:
            raise BrokerProblem("The answer of the upstream provider carries no state.")
        state_digest = token_digest(state)
        row = await self._store.take_login(realm.name, state_digest)
        # RFC 6749 §10.12: the state binds the answer to this browser's own request (CSRF)
        if row is None or row.alias != provider.alias:
            raise BrokerProblem("This sign-in is unknown or was already finished; start again.")
        if row.expires_at <= now:
            raise BrokerProblem("This sign-in took too long; start again.")
        if not browser_value or not same_secret(token_digest(browser_value), row.browser_digest):
            raise BrokerProblem("This sign-in was started in another browser; start again.")
        # RFC 9207 §2.4: an `iss` in the answer is compared with the expected issuer, and
        # "Clients MUST reject authorization responses without the iss parameter" from an
        # authorization server whose metadata says it sends one
        if "iss" in params and params["iss"] != provider.issuer:
            raise BrokerProblem("The answer comes from another issuer than the upstream's.")
        if "iss" not in params and (await self._metadata(provider)).sends_iss:
            raise BrokerProblem("The answer of the upstream provider carries no iss.")
        if "error" in params:
            error = params["error"][:60]
            raise BrokerCancelled(
                f"{provider.label} did not sign you in ({error}).", row.request_text
            )
        code = params.get("code", "")
        if not code:
            raise BrokerProblem("The answer of the upstream provider carries no code.")
        try:
            verifier = self._box.unseal(row.verifier_sealed, f"broker-login {state_digest}")
        except SecretKeyError as exc:
            raise BrokerProblem("This sign-in cannot be finished; start again.") from exc
        claims = await self._verified_claims(realm, provider, code, verifier, row.nonce, now)
        person = await self._record(realm, provider, claims, now)
        return BrokerResult(row.request_text, person)

    async def _metadata(self, provider: UpstreamProvider) -> ProviderMetadata:
        try:
            return await self._upstream.metadata(provider)
        except UpstreamUnavailable as exc:
            raise BrokerProblem(f"{provider.label} cannot be reached: {exc}", 502) from exc

    async def _verified_claims(
        self,
        realm: RealmConfig,
        provider: UpstreamProvider,
        code: str,
        verifier: str,
        nonce: str,
        now: int,
    ) -> dict[str, Any]:
        try:
            metadata = await self._upstream.metadata(provider)
            token = await self._upstream.exchange_code(
                provider, metadata, code, self.callback_url(realm, provider), verifier
            )
            return await self._upstream.verify_id_token(provider, metadata, token, nonce, now)
        except UpstreamUnavailable as exc:
            raise BrokerProblem(f"{provider.label} did not finish the sign-in: {exc}", 502) from exc
        except UpstreamRefused as exc:
            raise BrokerProblem(f"{provider.label}'s answer was refused: {exc}") from exc

    async def _record(
        self, realm: RealmConfig, provider: UpstreamProvider, claims: dict[str, Any], now: int
    ) -> Person:
        upstream_sub = str(claims["sub"])
        # Keycloak's choice when the claim is missing: the email, else the upstream's subject
        username = _text(claims.get(provider.username_claim)) or _text(claims.get("email"))
        person = Person(
            sub=brokered_subject(provider.issuer, upstream_sub),
            username=(username or upstream_sub)[:200],
            email=(_text(claims.get("email")) or "")[:320] or None,
            name=(_text(claims.get("name")) or "")[:200] or None,
        )
        await self._store.record_user(
            realm.name,
            BrokeredUserRow(
                person.sub, provider.alias, provider.issuer, upstream_sub, person.username,
                person.email, person.name, created_at=now, last_login_at=now,
            ),
        )  # fmt: skip
        return person

    async def users(self, realm: RealmConfig) -> list[BrokeredUserRow]:
        """The realm's brokered users, for an admin's list."""
        return await self._store.list_users(realm.name)


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None

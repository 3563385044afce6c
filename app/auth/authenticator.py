"""The request's token → a verified Caller: internal tokens (HMAC, checked once per process and
cached) and bearer access tokens (this realm's RS256, or a trusted issuer's keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.auth.bearer import TrustedKeys, verify_bearer
from app.auth.callers import Caller, VerifiedTokens, identify
from app.auth.keyring import Keyring
from app.config.realm_models import RealmConfig
from app.errors import InvalidToken

# (realm, jti) -> whether the realm's own access token with that id was revoked
Revoked = Callable[[str, str], Awaitable[bool]]


class Authenticator:
    def __init__(
        self,
        keyring: Keyring,
        issuer: Callable[[str], str],
        revoked: Revoked,
        family_live: Revoked | None = None,
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._revoked = revoked
        # (realm, family id) -> whether a person's grant family is live: a withdrawn consent or
        # a revoked refresh token ends the access tokens issued under it
        self._family_live = family_live
        self.trusted_keys = TrustedKeys()
        self.verified = VerifiedTokens()

    async def caller(self, realm: RealmConfig, token: str | None, host: str, now: int) -> Caller:
        """Verify whatever token the request carried (signature, issuer, expiry, typ).

        Registration and initial access tokens are checked on the event loop (an HMAC, no I/O
        once the realm's keys are cached); an external bearer may need its issuer's keys
        fetched over the network, so it is checked in a worker thread."""
        return (await self._identify(realm, token, now)).at(host)

    async def _identify(self, realm: RealmConfig, token: str | None, now: int) -> Caller:
        if token is not None:
            known = self.verified.get(realm.name, token, now)
            if known is not None:
                return known
        keys = await self._keyring.get(realm.name)
        issuer = self._issuer(realm.name)
        found = identify(keys, issuer, token, now)
        if found.kind != "bearer":
            self.verified.add(realm.name, found)
            return found
        bearer = await asyncio.to_thread(
            verify_bearer, realm, issuer, keys, self.trusted_keys, found.token, now
        )
        # the realm's own tokens can be ended early (a console sign-out); checked every time
        if bearer.issuer == issuer and await self._revoked(realm.name, bearer.jti):
            raise InvalidToken("Token revoked")
        if bearer.grant and self._family_live is not None:
            if not await self._family_live(realm.name, bearer.grant):
                raise InvalidToken("Token revoked")
        return bearer

"""The realm's people as an admin sees them (Keycloak's Users, Sessions and Consents tabs): local
accounts of the realm file and anyone else the realm has signed in (a brokered user once
recorded), their sign-in sessions and consents; ending a session, withdrawing a consent.

Seeing needs view-users (or manage-users, manage-clients); acting needs manage-users or
manage-clients. Withdrawing a consent revokes every grant the client holds for that person, so
its refresh and access tokens stop working at once (as Keycloak's "Revoke" of a consent does).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.callers import Caller
from app.auth.roles import TO_MANAGE_USERS, TO_VIEW_USERS, require_admin
from app.config.realm_models import RealmConfig
from app.errors import NotFound
from app.store.queries import is_key
from app.store.signin import SigninStore


@dataclass(frozen=True)
class Person:
    username: str
    local: bool  # an account of the realm file; else known from a sign-in (brokered)
    name: str | None = None
    email: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Session:
    id: str  # the SHA-256 of the session cookie's value: names it, cannot be used as it
    started: int
    expires: int


@dataclass(frozen=True)
class Consent:
    client_id: str
    scopes: tuple[str, ...]


class People:
    def __init__(self, signin: SigninStore) -> None:
        self._signin = signin

    async def everyone(self, realm: RealmConfig, caller: Caller, now: int) -> list[Person]:
        require_admin(caller, TO_VIEW_USERS)
        local = {u.username: u for u in (realm.login.users if realm.login else ())}
        others = await self._signin.usernames(realm.name, now) - set(local)
        found = [Person(u.username, True, u.name, u.email, tuple(u.roles)) for u in local.values()]
        found += [Person(name, False) for name in others]
        return sorted(found, key=lambda p: p.username.casefold())

    async def one(
        self, realm: RealmConfig, caller: Caller, username: str, now: int
    ) -> tuple[Person, list[Session], list[Consent]]:
        require_admin(caller, TO_VIEW_USERS)
        local = realm.login.user(username) if realm.login and len(username) <= 200 else None
        if local is None and (
            "\x00" in username or username not in await self._signin.usernames(realm.name, now)
        ):
            raise NotFound(f"User '{username[:64]}' not found")
        person = (
            Person(local.username, True, local.name, local.email, tuple(local.roles))
            if local
            else Person(username, False)
        )
        sessions = [
            Session(*row) for row in await self._signin.sessions_of(realm.name, username, now)
        ]
        consents = [
            Consent(client_id, tuple(scope.split()))
            for client_id, scope in await self._signin.consents_of(realm.name, username)
        ]
        return person, sessions, consents

    async def end_session(
        self, realm: RealmConfig, caller: Caller, username: str, session_id: str
    ) -> None:
        """The user must sign in again at the login page; the tokens issued under that
        sign-in (the console's session among them) stop working at once."""
        require_admin(caller, TO_MANAGE_USERS)
        if not is_key(session_id) or not await self._signin.end_session(
            realm.name, username[:200], session_id
        ):
            raise NotFound("No such session of this user")

    async def withdraw_consent(
        self, realm: RealmConfig, caller: Caller, username: str, client_id: str
    ) -> None:
        require_admin(caller, TO_MANAGE_USERS)
        if not is_key(client_id) or not await self._signin.withdraw(
            realm.name, username[:200], client_id
        ):
            raise NotFound("No such consent of this user")

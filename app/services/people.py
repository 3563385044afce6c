"""The people who sign in to a realm: its local accounts (the realm file's `login.users`) and
the users who signed in at its upstream provider (recorded by app/services/broker.py).

Sessions, codes, consents and refresh tokens name a person by their subject (`sub`): a local
account's is its username; a brokered user's is derived from the upstream's issuer and subject.

Admins see them as Keycloak's Users, Sessions and Consents tabs show them. Seeing needs
view-users (or manage-users, manage-clients); acting needs manage-users or manage-clients.
Withdrawing a consent revokes every grant the client holds for that person, so its refresh and
access tokens stop working at once (as Keycloak's "Revoke" of a consent does).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.auth.callers import Caller
from app.auth.roles import TO_MANAGE_USERS, TO_VIEW_USERS, require_admin
from app.config.realm_models import LoginUser, RealmConfig
from app.errors import NotFound
from app.store.broker import BrokerStore
from app.store.queries import is_key
from app.store.signin import SigninStore

# the namespace of brokered subjects (RFC 9562 §5.5): the same upstream user always gets the
# same `sub` here, and two upstreams' users never share one
BROKERED_NAMESPACE = uuid.UUID("6f1d2c1e-5a0b-4d43-9a7e-3c1f0e6b9b21")
MAX_SUBJECT = 200  # the sign-in tables' subject column


@dataclass(frozen=True)
class Person:
    sub: str
    username: str
    email: str | None = None
    name: str | None = None
    roles: tuple[str, ...] = ()  # realm-management roles (local accounts only)
    local: bool = False  # an account of the realm file; else known from a sign-in (brokered)


@dataclass(frozen=True)
class Session:
    id: str  # the SHA-256 of the session cookie's value: names it, cannot be used as it
    started: int
    expires: int


@dataclass(frozen=True)
class Consent:
    client_id: str
    scopes: tuple[str, ...]


def local_person(user: LoginUser) -> Person:
    return Person(
        user.username, user.username, user.email, user.name, tuple(user.roles), local=True
    )


def brokered_subject(upstream_issuer: str, upstream_sub: str) -> str:
    return str(uuid.uuid5(BROKERED_NAMESPACE, f"{upstream_issuer}\n{upstream_sub}"))


class People:
    def __init__(self, brokered: BrokerStore, signin: SigninStore) -> None:
        self._brokered = brokered
        self._signin = signin

    async def find(self, realm: RealmConfig, subject: str) -> Person | None:
        """The person `subject` names, or None: unknown, removed from the realm file, or
        brokered from an upstream the realm no longer names."""
        login = realm.login
        if login is None:
            return None
        local = login.user(subject)
        if local is not None:
            return local_person(local)
        if login.upstream is None:
            return None
        row = await self._brokered.get_user(realm.name, subject)
        if row is None or row.alias != login.upstream.alias:
            return None
        if row.upstream_issuer != login.upstream.issuer:
            return None
        return Person(row.sub, row.username, row.email, row.name)

    # --- what an admin sees and does -----------------------------------------------------------

    async def everyone(self, realm: RealmConfig, caller: Caller, now: int) -> list[Person]:
        """Local accounts, brokered users, and anyone else the realm still holds a session, a
        consent or a grant of (a local account since removed from the realm file)."""
        require_admin(caller, TO_VIEW_USERS)
        found = {u.username: local_person(u) for u in (realm.login.users if realm.login else ())}
        for row in await self._brokered.list_users(realm.name):
            found.setdefault(row.sub, Person(row.sub, row.username, row.email, row.name))
        for subject in await self._signin.usernames(realm.name, now):
            found.setdefault(subject, Person(subject, subject))
        return sorted(found.values(), key=lambda p: (p.username.casefold(), p.sub))

    async def one(
        self, realm: RealmConfig, caller: Caller, subject: str, now: int
    ) -> tuple[Person, list[Session], list[Consent]]:
        require_admin(caller, TO_VIEW_USERS)
        if len(subject) > MAX_SUBJECT or not is_key(subject):
            raise NotFound(f"User '{subject[:64]}' not found")
        person = await self.find(realm, subject)
        if person is None:
            row = await self._brokered.get_user(realm.name, subject)
            if row is not None:
                person = Person(row.sub, row.username, row.email, row.name)
            elif subject in await self._signin.usernames(realm.name, now):
                person = Person(subject, subject)
            else:
                raise NotFound(f"User '{subject[:64]}' not found")
        sessions = [
            Session(*row) for row in await self._signin.sessions_of(realm.name, subject, now)
        ]
        consents = [
            Consent(client_id, tuple(scope.split()))
            for client_id, scope in await self._signin.consents_of(realm.name, subject)
        ]
        return person, sessions, consents

    async def end_session(
        self, realm: RealmConfig, caller: Caller, subject: str, session_id: str
    ) -> None:
        """The user must sign in again at the login page; the tokens issued under that
        sign-in (the console's session among them) stop working at once."""
        require_admin(caller, TO_MANAGE_USERS)
        if not is_key(session_id) or not await self._signin.end_session(
            realm.name, subject[:MAX_SUBJECT], session_id
        ):
            raise NotFound("No such session of this user")

    async def withdraw_consent(
        self, realm: RealmConfig, caller: Caller, subject: str, client_id: str
    ) -> None:
        require_admin(caller, TO_MANAGE_USERS)
        if not is_key(client_id) or not await self._signin.withdraw(
            realm.name, subject[:MAX_SUBJECT], client_id
        ):
            raise NotFound("No such consent of this user")

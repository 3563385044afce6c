"""The people who sign in to a realm: its local accounts (the realm file's `login.users`) and
the users who signed in at its upstream provider (recorded by app/services/broker.py).

Sessions, codes, consents and refresh tokens name a person by their subject (`sub`): a local
account's is its username; a brokered user's is derived from the upstream's issuer and subject.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.config.realm_models import LoginUser, RealmConfig
from app.store.broker import BrokerStore

# the namespace of brokered subjects (RFC 9562 §5.5): the same upstream user always gets the
# same `sub` here, and two upstreams' users never share one
BROKERED_NAMESPACE = uuid.UUID("6f1d2c1e-5a0b-4d43-9a7e-3c1f0e6b9b21")


@dataclass(frozen=True)
class Person:
    sub: str
    username: str
    email: str | None = None
    name: str | None = None
    roles: tuple[str, ...] = ()  # realm-management roles (local accounts only)


def local_person(user: LoginUser) -> Person:
    return Person(user.username, user.username, user.email, user.name, tuple(user.roles))


def brokered_subject(upstream_issuer: str, upstream_sub: str) -> str:
    return str(uuid.uuid5(BROKERED_NAMESPACE, f"{upstream_issuer}\n{upstream_sub}"))


class People:
    def __init__(self, brokered: BrokerStore) -> None:
        self._brokered = brokered

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

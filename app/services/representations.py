"""Keycloak's representation provider: …/clients-registrations/default[/{clientId}].

A ClientRepresentation in and out, on the same registrations, policies, tokens and table as
RFC 7591 / RFC 7592 (app.services.registration): a client made here is read, updated and
deleted through the OpenID Connect provider and the admin API, and the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.auth.callers import Caller
from app.config.realm_models import RealmConfig
from app.errors import InvalidClientMetadata
from app.rules.client_representation import (
    Representation,
    read_representation,
    representation,
)
from app.services.registration import Registered, Registrations, Shape
from app.store.queries import ClientRow, Store

# members of a representation the server sets: sent back as they were shown, they change nothing
SERVER_MADE = frozenset(
    {"id", "registrationAccessToken", "registrationAuth", "createdTimestamp", "lastUsedTimestamp"}
)


class Representations:
    """The representation provider's four calls; every one goes through Registrations."""

    def __init__(self, registrations: Registrations, store: Store) -> None:
        self._registrations = registrations
        self._store = store

    async def create(
        self, realm: RealmConfig, caller: Caller, body: Mapping[str, Any], now: int
    ) -> dict[str, Any]:
        """POST …/default: 201 with `id`, `secret` (confidential clients) and
        `registrationAccessToken`; a clientId the realm has → 400 "Client Identifier in use"."""
        rep = read_representation(body)
        return await self.create_read(realm, caller, rep, now)

    async def create_read(
        self, realm: RealmConfig, caller: Caller, rep: Representation, now: int
    ) -> dict[str, Any]:
        """A representation already read (…/default, a SAML entity descriptor) registered."""
        shape = Shape(
            client_id=rep.client_id,
            secret=rep.secret,
            kept=rep.kept,
            consent_required=rep.consent_required,
            full_scope_allowed=rep.full_scope_allowed,
            enabled=rep.enabled,
        )
        done = await self._registrations.register_shaped(realm, caller, rep.metadata, now, shape)
        return shown(done, realm)

    async def read(self, realm: RealmConfig, client_id: str, caller: Caller) -> dict[str, Any]:
        """GET …/default/{clientId}: the RAT presented is shown back, not rotated."""
        return shown(await self._registrations.read_shaped(realm, client_id, caller), realm)

    async def update(
        self,
        realm: RealmConfig,
        client_id: str,
        caller: Caller,
        body: Mapping[str, Any],
        now: int,
    ) -> dict[str, Any]:
        """PUT …/default/{clientId}: the members sent replace the stored ones, the others stay
        (Keycloak merges); with a RAT and rotation on, a new RAT."""
        if body.get("clientId", client_id) != client_id:
            raise InvalidClientMetadata("clientId cannot be changed")
        row = await self._store.get_client(realm.name, client_id)
        rep = read_representation(merged(current(row, realm), body))
        metadata: dict[str, Any] = {**rep.metadata, "client_id": client_id}
        if rep.secret is not None:
            metadata["client_secret"] = rep.secret  # must be the issued one (RFC 7592 §2.2)
        shape = Shape(
            kept=rep.kept,
            consent_required=rep.consent_required,
            full_scope_allowed=rep.full_scope_allowed,
        )
        done = await self._registrations.update_shaped(
            realm, client_id, caller, metadata, now, shape
        )
        return shown(done, realm)

    async def remove(self, realm: RealmConfig, client_id: str, caller: Caller) -> None:
        """DELETE …/default/{clientId}: 204; the id, secret and RAT stop working at once."""
        await self._registrations.remove(realm, client_id, caller)


def current(row: ClientRow | None, realm: RealmConfig) -> dict[str, Any]:
    """The stored client as a representation, what a PUT's members are merged over ({} for a
    client that is not there: the update then answers 401 or 404 as any other)."""
    if row is None:
        return {}
    return client_representation(row, realm)


def merged(shown_rep: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """Keycloak's update: members sent (not null) replace, attributes one by one."""
    result = dict(shown_rep)
    for name, value in body.items():
        if value is None or name in SERVER_MADE:
            continue
        if name == "attributes" and isinstance(value, dict):
            result["attributes"] = {**result.get("attributes", {}), **value}
        else:
            result[name] = value
    return result


def client_representation(row: ClientRow, realm: RealmConfig) -> dict[str, Any]:
    """Keycloak's ClientRepresentation of a stored client, without its secret."""
    flags = {
        "enabled": row.enabled,
        "consentRequired": row.consent_required,
        "fullScopeAllowed": row.full_scope_allowed,
        "registrationAuth": row.registration_auth,
        "createdTimestamp": row.created_at * 1000,
        # the last token, registration read or update, in ms (0: never; tracked by realms
        # with client_expiry)
        "lastUsedTimestamp": row.last_used_at * 1000,
    }
    return representation(row.client_id, row.key, row.metadata(), flags, realm.scopes.default)


def shown(done: Registered, realm: RealmConfig) -> dict[str, Any]:
    """A registration call's answer as a representation, with `secret` and
    `registrationAccessToken` when it has them."""
    rep = client_representation(done.row, realm)
    flags = {
        "enabled": done.row.enabled,
        "consentRequired": done.row.consent_required,
        "fullScopeAllowed": done.row.full_scope_allowed,
    }
    rep.update(
        representation(done.row.client_id, done.row.key, done.metadata, flags, realm.scopes.default)
    )
    if done.secret is not None:
        rep["secret"] = done.secret
    if done.rat is not None:
        rep["registrationAccessToken"] = done.rat
    return rep

"""Container of the admin API: initial access tokens and Keycloak-style client views.

Shapes follow Keycloak's admin REST API (ClientInitialAccessCreatePresentation,
ClientInitialAccessPresentation, ClientRepresentation).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

from app.auth.callers import Caller
from app.auth.keyring import Keyring
from app.auth.roles import (
    TO_MANAGE_CLIENTS,
    TO_VIEW_CLIENTS,
    holds,
    require_admin,
    require_role_or_owner,
)
from app.auth.secret_values import token_digest
from app.auth.tokens import INITIAL_ACCESS_TOKEN, sign_internal, token_claims
from app.config.realm_models import RealmConfig
from app.errors import InvalidRequest, NotFound
from app.jsonio import dumps
from app.rules.client_representation import read_representation
from app.rules.numbers import whole_number
from app.services.registration import Registrations, Shape
from app.services.representations import Representations, client_representation, merged
from app.store.queries import (
    ClientFilter,
    ClientState,
    InitialAccessTokenRow,
    Store,
)

INT32_MAX = 2**31 - 1
DEFAULT_PAGE = 100
MAX_PAGE = 1000
MAX_ENABLE_WAIT = 2.0  # seconds an enable waits at most for the second of a disable to pass


def non_negative_int(body: Mapping[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"Invalid value for {name}: must be a whole number")
    if value < 0:
        raise InvalidRequest(f"Invalid value for {name}: must not be negative")
    if value > INT32_MAX:
        raise InvalidRequest(f"Invalid value for {name}: must be at most {INT32_MAX}")
    return value


class Admin:
    """The realm admin's work: initial access tokens and the clients of a realm. Every method
    checks its caller's roles (app.auth.roles), whichever door the request came through."""

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        issuer: Callable[[str], str],
        registrations: Registrations,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._issuer = issuer
        # an admin's change of client metadata is validated and policed as an RFC 7592 PUT is
        self._registrations = registrations
        self._representations = Representations(registrations, store)
        self._clock = clock

    async def create_client(
        self, realm: RealmConfig, caller: Caller, body: Mapping[str, Any], now: int
    ) -> str:
        """Keycloak's `POST …/clients` with a ClientRepresentation (manage-clients): registered
        as the representation provider registers it, policies included; the new client's id."""
        require_admin(caller, TO_MANAGE_CLIENTS)
        created = await self._representations.create(realm, caller, body, now)
        return str(created["id"])

    async def client_secret(self, realm: RealmConfig, caller: Caller, client_id: str) -> str:
        """Keycloak's `GET …/clients/{id}/client-secret`: the secret, masked for a bearer with
        view-clients only; 400 for a public client, which has none."""
        shown = await self._registrations.read(realm, client_id, caller)
        if "client_secret" not in shown:
            raise InvalidRequest("The client is public: it has no secret")
        return str(shown["client_secret"])

    async def create_initial_access_token(
        self, realm: RealmConfig, caller: Caller, body: Mapping[str, Any], now: int
    ) -> dict[str, Any]:
        """Keycloak's ClientInitialAccessCreatePresentation `{"expiration": s, "count": n}` in,
        a compact JWS as Keycloak's out; only its id and digest are stored (docs/reference.md
        §4)."""
        require_admin(caller, TO_MANAGE_CLIENTS)
        expiration = non_negative_int(body, "expiration", 0)
        count = non_negative_int(body, "count", 1)
        if now + expiration > INT32_MAX:
            # times are 32-bit epoch seconds in the database (Keycloak's int columns)
            raise InvalidRequest("Invalid value for expiration: too far in the future")
        claims = token_claims(self._issuer(realm.name), INITIAL_ACCESS_TOKEN, now)
        if expiration:
            claims["exp"] = now + expiration
        token = sign_internal(await self._keyring.get(realm.name), claims)
        row = InitialAccessTokenRow(
            id=claims["jti"],
            realm=realm.name,
            created_at=now,
            expires_at=now + expiration if expiration else None,
            count=count,
            remaining=count,
        )
        await self._store.insert_initial_access_token(row, token_digest(token))
        return {**initial_access_token_presentation(row), "token": token}

    async def list_initial_access_tokens(
        self, realm: RealmConfig, caller: Caller
    ) -> list[dict[str, Any]]:
        require_admin(caller, TO_VIEW_CLIENTS)
        rows = await self._store.list_initial_access_tokens(realm.name)
        return [initial_access_token_presentation(row) for row in rows]

    async def delete_initial_access_token(
        self, realm: RealmConfig, caller: Caller, token_id: str
    ) -> None:
        require_admin(caller, TO_MANAGE_CLIENTS)
        if not await self._store.delete_initial_access_token(realm.name, token_id):
            raise NotFound(f"Initial access token '{token_id[:64]}' not found")

    async def list_clients_page(
        self, realm: RealmConfig, caller: Caller, query: Mapping[str, str]
    ) -> AsyncIterator[dict[str, Any]]:
        """Keycloak's `GET …/clients` query, checked after the caller: `first` and `max` (at
        most MAX_PAGE), `clientId` (exact, or contained in the id with `search=true`); without
        `max`, every client, as Keycloak answers, read from the store a page at a time."""
        require_admin(caller, TO_VIEW_CLIENTS)
        skip = _page_param("first", query.get("first"), 0)
        wanted, search = query.get("clientId"), _flag_param("search", query.get("search"))
        if wanted is not None and search:
            where = ClientFilter(client_id_contains=wanted)
        else:
            where = ClientFilter(client_id=wanted)
        if query.get("max", "") != "":
            count = min(_page_param("max", query.get("max"), DEFAULT_PAGE), MAX_PAGE)
            page = await self.list_clients(realm, caller, skip, count, where)
            return _each(page)
        first_page = await self.list_clients(realm, caller, skip, MAX_PAGE, where)
        return self._every_client(realm, first_page, where)

    async def _every_client(
        self, realm: RealmConfig, page: list[dict[str, Any]], where: ClientFilter
    ) -> AsyncIterator[dict[str, Any]]:
        """The clients from `page` on, in creation order, MAX_PAGE rows in memory at most."""
        while page:  # bounded: each pass moves past the clients it yields
            for shown in page:
                yield shown
            if len(page) < MAX_PAGE:
                return
            last = page[-1]
            after = (last["createdTimestamp"] // 1000, str(last["id"]))
            rows = await self._store.list_clients_after(realm.name, after, MAX_PAGE, where)
            page = [client_representation(row, realm) for row in rows]

    async def list_clients(
        self,
        realm: RealmConfig,
        caller: Caller,
        first: int,
        limit: int,
        where: ClientFilter | None = None,
    ) -> list[dict[str, Any]]:
        where = _visible_to(caller, where or ClientFilter())
        rows = await self._store.list_clients(realm.name, first, limit, where)
        return [client_representation(row, realm) for row in rows]

    async def count_clients(
        self, realm: RealmConfig, caller: Caller, where: ClientFilter | None = None
    ) -> int:
        return await self._store.count_clients(
            realm.name, _visible_to(caller, where or ClientFilter())
        )

    async def client_list_page(
        self, realm: RealmConfig, caller: Caller, state: ClientState | None, number: int, size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The console's list: page `number` (from 1) of the clients in `state`, newest first,
        and how many there are in all."""
        where = ClientFilter(state=state, newest_first=True)
        total = await self.count_clients(realm, caller, where)
        first = (max(1, number) - 1) * size
        return await self.list_clients(realm, caller, first, size, where), total

    async def delete_client(self, realm: RealmConfig, caller: Caller, client_id: str) -> None:
        """`DELETE /admin/realms/{realm}/clients/{id}`: the id, secret and RAT stop working."""
        require_admin(caller, TO_MANAGE_CLIENTS)
        if not await self._store.delete_client(realm.name, client_id, None):
            raise NotFound(f"Client '{client_id[:64]}' not found")

    async def update_client(
        self, realm: RealmConfig, caller: Caller, client_id: str, body: Mapping[str, Any], now: int
    ) -> None:
        """Keycloak's `PUT …/clients/{id}` with a ClientRepresentation: what can change here
        (UPDATABLE) is applied as the representation provider's PUT applies it, members sent
        back as they are pass, any other change is 400 naming them."""
        require_admin(caller, TO_MANAGE_CLIENTS)
        current = await self.get_client(realm, caller, client_id)
        # JSON equality: `true` and `1` differ, as they do on the wire
        changed = {
            name: value for name, value in body.items() if dumps(current.get(name)) != dumps(value)
        }
        fixed = sorted(name for name in changed if name not in UPDATABLE)
        if fixed:
            raise InvalidRequest(
                f"{', '.join(fixed)}: cannot be changed here (changeable: "
                f"{', '.join(sorted(UPDATABLE))})"
            )
        if not isinstance(changed.get("enabled", False), bool):  # checked before any change
            raise InvalidRequest("enabled must be true or false")
        rest = {name: value for name, value in changed.items() if name != "enabled"}
        if rest:
            rep = read_representation(merged(current, rest))
            metadata: dict[str, Any] = {**rep.metadata, "client_id": client_id}
            if rep.secret is not None:
                metadata["client_secret"] = rep.secret  # must be the issued one
            shape = Shape(
                kept=rep.kept,
                consent_required=rep.consent_required,
                full_scope_allowed=rep.full_scope_allowed,
            )
            await self._registrations.update_shaped(realm, client_id, caller, metadata, now, shape)
        if "enabled" in changed:
            await self.set_client_enabled(realm, caller, client_id, changed, now)

    async def get_client(
        self, realm: RealmConfig, caller: Caller, client_id: str
    ) -> dict[str, Any]:
        if not caller.user:
            require_admin(caller, TO_VIEW_CLIENTS)
        row = await self._store.get_client(realm.name, client_id)
        if row is None:
            require_admin(caller, TO_VIEW_CLIENTS)  # a person learns nothing of others' ids
            raise NotFound(f"Client '{client_id[:64]}' not found")
        require_role_or_owner(caller, TO_VIEW_CLIENTS, row.registered_by)
        return client_representation(row, realm)

    async def client_id_of(
        self, realm: RealmConfig, caller: Caller, key: str, *, to_change: bool
    ) -> str:
        """The clientId of the client whose Keycloak `id` is `key`: what admin paths name
        (equal to the clientId unless the caller chose its clientId). The caller's role is
        checked first (403 before 404), for a change manage-clients."""
        require_admin(caller, TO_MANAGE_CLIENTS if to_change else TO_VIEW_CLIENTS)
        row = await self._store.get_client_by_key(realm.name, key)
        if row is None:
            raise NotFound(f"Client '{key[:64]}' not found")
        return row.client_id

    async def registered_by(self, realm: RealmConfig, client_id: str) -> str | None:
        """The person who registered the client, if one did (what the console offers them)."""
        row = await self._store.get_client(realm.name, client_id)
        return row.registered_by if row is not None else None

    async def set_client_enabled(
        self, realm: RealmConfig, caller: Caller, client_id: str, body: Mapping[str, Any], now: int
    ) -> None:
        """How an admin approves a client held disabled by the client-disabled policy, and
        stops one. A disable makes the client's access tokens issued so far inactive for good:
        re-enabling it does not bring them back (docs/reference.md §3)."""
        require_admin(caller, TO_MANAGE_CLIENTS)
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            raise InvalidRequest('The body must be {"enabled": true|false}')
        if enabled:
            now = await self._past_the_disable(realm, client_id, now)
        if not await self._store.set_client_enabled(realm.name, client_id, enabled, now):
            raise NotFound(f"Client '{client_id[:64]}' not found")

    async def _past_the_disable(self, realm: RealmConfig, client_id: str, now: int) -> int:
        """Wait, if need be, until the second of the client's last disable has passed.

        A token's `iat` is whole seconds and one issued in the second of a disable counts as
        issued before it, so a token issued after a re-enable within that same second would be
        inactive from birth. Enabling once that second has passed means a token issued after
        the 204 is active. The wait is bounded (another host's clock may be ahead): the token
        endpoint refuses to issue such a token meanwhile (app.services.token_endpoint)."""
        row = await self._store.get_client(realm.name, client_id)
        if row is None:
            raise NotFound(f"Client '{client_id[:64]}' not found")
        after = row.tokens_valid_after + 1  # the first second after the disable's
        give_up = self._clock() + MAX_ENABLE_WAIT
        while (current := self._clock()) < after and current < give_up:
            await asyncio.sleep(min(after, give_up) - current + 0.001)
        return max(now, int(self._clock()))


# ClientRepresentation members an admin's PUT may change (app.rules.client_representation maps
# them); the server-made ones pass when sent back unchanged
UPDATABLE = frozenset(
    {
        "name", "description", "rootUrl", "adminUrl", "baseUrl", "enabled",
        "clientAuthenticatorType", "redirectUris", "webOrigins", "bearerOnly", "consentRequired",
        "standardFlowEnabled", "implicitFlowEnabled", "directAccessGrantsEnabled",
        "serviceAccountsEnabled", "publicClient", "frontchannelLogout", "protocol", "attributes",
        "fullScopeAllowed", "defaultClientScopes", "optionalClientScopes", "secret",
    }
)  # fmt: skip


async def _each(items: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in items:
        yield item


def _flag_param(name: str, raw: str | None) -> bool:
    if raw is None or raw == "" or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise InvalidRequest(f"Query parameter {name} must be true or false")


def _page_param(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    value = whole_number(raw, max_digits=9)
    if value is None:
        raise InvalidRequest(f"Query parameter {name} must be a non-negative whole number")
    return value


def initial_access_token_presentation(row: InitialAccessTokenRow) -> dict[str, Any]:
    """Keycloak's ClientInitialAccessPresentation, without the token."""
    return {
        "id": row.id,
        "timestamp": row.created_at,
        "expiration": (row.expires_at - row.created_at) if row.expires_at else 0,
        "count": row.count,
        "remainingCount": row.remaining,
    }


def _visible_to(caller: Caller, where: ClientFilter) -> ClientFilter:
    """The clients a listing may show: every one to view-clients, a person's own to them."""
    if caller.user and caller.kind == "bearer" and not holds(caller, TO_VIEW_CLIENTS):
        return replace(where, registered_by=caller.user)
    require_admin(caller, TO_VIEW_CLIENTS)
    return where

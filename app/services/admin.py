"""Services of the admin API: initial access tokens and Keycloak-style client views.

Shapes follow Keycloak's admin REST API (ClientInitialAccessCreatePresentation,
ClientInitialAccessPresentation, ClientRepresentation).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from app.auth.callers import MANAGE_CLIENTS, VIEW_CLIENTS, Credential
from app.auth.secret_box import token_digest
from app.auth.tokens import INITIAL_ACCESS_TOKEN, sign_internal
from app.config.realms import RealmConfig
from app.container import Services
from app.errors import InsufficientScope, InvalidRequest, InvalidToken, MissingToken, NotFound
from app.jsonio import loads
from app.store.queries import ClientRow, IatRow

INT32_MAX = 2**31 - 1
DEFAULT_PAGE = 100
MAX_PAGE = 1000


def require_role(cred: Credential, *roles: str) -> None:
    """Admin endpoints take a bearer access token with one of `roles`."""
    if cred.kind == "anonymous":
        raise MissingToken("A bearer access token is required")
    if cred.kind != "bearer":
        raise InvalidToken("A bearer access token is required")
    if not cred.roles & set(roles):
        raise InsufficientScope(f"The bearer token lacks the role: {' or '.join(roles)}")


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


async def create_initial_access_token(
    svc: Services, realm: RealmConfig, expiration: int, count: int, now: int
) -> dict[str, Any]:
    """A compact JWS as Keycloak's; only its id and digest are stored (CONTRACT §4)."""
    if now + expiration > INT32_MAX:
        # times are 32-bit epoch seconds in the database (Keycloak's int columns)
        raise InvalidRequest("Invalid value for expiration: too far in the future")
    iat_id = str(uuid.uuid4())
    issuer = svc.issuer(realm.name)
    claims: dict[str, Any] = {
        "jti": iat_id,
        "iat": now,
        "iss": issuer,
        "aud": issuer,
        "typ": INITIAL_ACCESS_TOKEN,
    }
    if expiration:
        claims["exp"] = now + expiration
    token = sign_internal(await svc.keyring.get(realm.name), claims)
    row = IatRow(
        id=iat_id,
        realm=realm.name,
        created_at=now,
        expires_at=now + expiration if expiration else None,
        count=count,
        remaining=count,
    )
    await svc.store.insert_iat(row, token_digest(token))
    return {**iat_presentation(row), "token": token}


def iat_presentation(row: IatRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "timestamp": row.created_at,
        "expiration": (row.expires_at - row.created_at) if row.expires_at else 0,
        "count": row.count,
        "remainingCount": row.remaining,
    }


async def list_initial_access_tokens(svc: Services, realm: RealmConfig) -> list[dict[str, Any]]:
    return [iat_presentation(row) for row in await svc.store.list_iats(realm.name)]


async def delete_initial_access_token(svc: Services, realm: RealmConfig, iat_id: str) -> None:
    if not await svc.store.delete_iat(realm.name, iat_id):
        raise NotFound(f"Initial access token '{iat_id}' not found")


def client_representation(row: ClientRow) -> dict[str, Any]:
    """Keycloak's ClientRepresentation, the members an admin needs to judge a registration."""
    metadata = loads(row.metadata_json)
    method = metadata.get("token_endpoint_auth_method")
    return {
        "id": row.client_id,
        "clientId": row.client_id,
        "name": metadata.get("client_name"),
        "enabled": row.enabled,
        "protocol": "openid-connect",
        "publicClient": method == "none",
        "consentRequired": row.consent_required,
        "fullScopeAllowed": row.full_scope_allowed,
        "redirectUris": list(metadata.get("redirect_uris", [])),
        "rootUrl": metadata.get("client_uri"),
        "serviceAccountsEnabled": "client_credentials" in metadata.get("grant_types", []),
        "registrationAuth": row.registration_auth,
        "createdTimestamp": row.created_at * 1000,
    }


async def list_clients(
    svc: Services, realm: RealmConfig, cred: Credential, first: int, limit: int
) -> list[dict[str, Any]]:
    require_role(cred, VIEW_CLIENTS, MANAGE_CLIENTS)
    rows = await svc.store.list_clients(realm.name, first, limit)
    return [client_representation(row) for row in rows]


async def get_client(
    svc: Services, realm: RealmConfig, cred: Credential, client_id: str
) -> dict[str, Any]:
    require_role(cred, VIEW_CLIENTS, MANAGE_CLIENTS)
    row = await svc.store.get_client(realm.name, client_id)
    if row is None:
        raise NotFound(f"Client '{client_id}' not found")
    return client_representation(row)


async def set_client_enabled(
    svc: Services,
    realm: RealmConfig,
    cred: Credential,
    client_id: str,
    body: Mapping[str, Any],
    now: int,
) -> None:
    """How an admin approves a client held disabled by the client-disabled policy."""
    require_role(cred, MANAGE_CLIENTS)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise InvalidRequest('The body must be {"enabled": true|false}')
    if not await svc.store.set_client_enabled(realm.name, client_id, enabled, now):
        raise NotFound(f"Client '{client_id}' not found")

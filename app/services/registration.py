"""Services: RFC 7591 §3 create and RFC 7592 §2 read / update / delete of a client registration."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from app.auth.callers import CREATE_CLIENT, MANAGE_CLIENTS, VIEW_CLIENTS, Credential
from app.auth.secret_box import new_client_secret, same_secret, token_digest
from app.auth.tokens import REGISTRATION_ACCESS_TOKEN, sign_internal
from app.config.realms import MaxClients, RealmConfig
from app.container import Services
from app.errors import (
    InsufficientScope,
    InvalidClientMetadata,
    InvalidToken,
    MissingToken,
    NotFound,
    PolicyRefused,
)
from app.jsonio import dumps, loads
from app.rules.client_metadata import validate_client_metadata
from app.rules.policies import (
    Caller,
    Candidate,
    Operation,
    apply_policies,
    check_scopes,
    max_clients_refusal,
    policy_set,
)
from app.store.ids import new_client_id
from app.store.queries import ClientRow, RealmFull, SpendFailed

MASKED_SECRET = "**********"
# RFC 7592 §2.2: "The client MUST NOT include the "registration_access_token",
# "registration_client_uri", "client_secret_expires_at", or "client_id_issued_at" fields"
READ_ONLY_ON_PUT = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})
ROLES_TO_CREATE = frozenset({CREATE_CLIENT, MANAGE_CLIENTS})
ROLES_TO_READ = frozenset({VIEW_CLIENTS, MANAGE_CLIENTS})
ROLES_TO_CHANGE = frozenset({MANAGE_CLIENTS})


async def register(
    svc: Services,
    realm: RealmConfig,
    cred: Credential,
    host: str,
    body: Mapping[str, Any],
    now: int,
) -> dict[str, Any]:
    """RFC 7591 §3.1: validate, run the policies, store, answer with the full registration."""
    if cred.kind == "registration_access_token":
        raise InvalidToken("A registration access token cannot register a new client")
    if cred.kind == "bearer" and not cred.roles & ROLES_TO_CREATE:
        raise InsufficientScope("The bearer token lacks the create-client or manage-clients role")
    if "client_id" in body:
        raise InvalidClientMetadata("client_id is assigned by the server and must not be sent")
    caller = Caller(host=host, auth=cred.registration_auth, roles=cred.roles)
    counted = None
    if any(isinstance(policy, MaxClients) for policy in policy_set(realm, caller)):
        counted = await svc.store.count_clients(realm.name)
    start = Candidate(metadata={}, clients_in_realm=counted)
    candidate = _checked_candidate(svc, realm, "create", start, caller, body)
    client_id = new_client_id()
    secret = new_client_secret() if _needs_secret(candidate.metadata) else None
    rat = await _new_rat(svc, realm, caller.auth, now)
    row = ClientRow(
        client_id=client_id,
        realm=realm.name,
        metadata_json=dumps(dict(candidate.metadata)).decode(),
        secret_sealed=svc.box.seal(secret, client_id) if secret else None,
        rat_digest=token_digest(rat),
        registration_auth=caller.auth,
        enabled=candidate.enabled,
        consent_required=candidate.consent_required,
        full_scope_allowed=candidate.full_scope_allowed,
        created_at=now,
        updated_at=now,
    )
    iat = (cred.jti, token_digest(cred.token)) if cred.kind == "initial_access_token" else None
    try:
        await svc.store.insert_client(row, iat, candidate.max_clients, now)
    except SpendFailed as exc:
        raise InvalidToken("Initial access token is used up, expired or deleted") from exc
    except RealmFull as exc:
        raise PolicyRefused(
            candidate.max_clients_policy or "Max Clients Limit",
            max_clients_refusal(candidate.max_clients or 0),
        ) from exc
    return client_response(svc, row, candidate.metadata, secret, rat)


async def read(
    svc: Services, realm: RealmConfig, client_id: str, cred: Credential, host: str, now: int
) -> dict[str, Any]:
    """RFC 7592 §2.1: a GET does not rotate the RAT; the response carries the token presented."""
    row = await _authorized_client(svc, realm, client_id, cred, ROLES_TO_READ)
    _run_policies(svc, realm, "read", row, cred, host)
    secret = _open_secret(svc, row)
    if secret is not None and cred.kind == "bearer" and MANAGE_CLIENTS not in cred.roles:
        secret = MASKED_SECRET
    rat = cred.token if cred.kind == "registration_access_token" else None
    return client_response(svc, row, loads(row.metadata_json), secret, rat)


async def update(
    svc: Services,
    realm: RealmConfig,
    client_id: str,
    cred: Credential,
    host: str,
    body: Mapping[str, Any],
    now: int,
) -> dict[str, Any]:
    """RFC 7592 §2.2: the body replaces the metadata; with a RAT and rotation on, a new RAT."""
    row = await _authorized_client(svc, realm, client_id, cred, ROLES_TO_CHANGE)
    _check_update_body(svc, row, body)
    stored = Candidate(
        metadata={},
        enabled=row.enabled,
        consent_required=row.consent_required,
        full_scope_allowed=row.full_scope_allowed,
        held_scopes=frozenset(str(loads(row.metadata_json).get("scope") or "").split()),
    )
    caller = _caller_for(row, cred, host)
    candidate = _checked_candidate(svc, realm, "update", stored, caller, body)
    secret = _open_secret(svc, row)
    if not _needs_secret(candidate.metadata):
        secret = None
    elif secret is None:
        secret = new_client_secret()
    by_rat = cred.kind == "registration_access_token"
    rotate = by_rat and realm.registration.rotate_registration_access_token
    rat = await _new_rat(svc, realm, row.registration_auth, now) if rotate else None
    new_row = replace(
        row,
        metadata_json=dumps(dict(candidate.metadata)).decode(),
        secret_sealed=svc.box.seal(secret, row.client_id) if secret else None,
        rat_digest=token_digest(rat) if rat else row.rat_digest,
        enabled=candidate.enabled,
        consent_required=candidate.consent_required,
        full_scope_allowed=candidate.full_scope_allowed,
        updated_at=now,
    )
    # compare-and-swap on the presented RAT: of concurrent PUTs with one token exactly one wins
    expected = token_digest(cred.token) if by_rat else None
    if not await svc.store.replace_client(new_row, expected):
        if by_rat:
            raise InvalidToken("Registration access token is no longer valid")
        raise NotFound(f"Client '{client_id}' not found")
    shown_rat = rat if rotate else (cred.token if by_rat else None)
    return client_response(svc, new_row, candidate.metadata, secret, shown_rat)


async def remove(
    svc: Services, realm: RealmConfig, client_id: str, cred: Credential, host: str, now: int
) -> None:
    """RFC 7592 §2.3: the client id, its secret and its RAT stop working at once."""
    row = await _authorized_client(svc, realm, client_id, cred, ROLES_TO_CHANGE)
    _run_policies(svc, realm, "delete", row, cred, host)
    by_rat = cred.kind == "registration_access_token"
    expected = token_digest(cred.token) if by_rat else None
    if not await svc.store.delete_client(realm.name, client_id, expected):
        if by_rat:
            raise InvalidToken("Registration access token is no longer valid")
        raise NotFound(f"Client '{client_id}' not found")


def client_response(
    svc: Services,
    row: ClientRow,
    metadata: Mapping[str, Any],
    secret: str | None,
    rat: str | None,
) -> dict[str, Any]:
    """RFC 7591 §3.2.1 / RFC 7592 §3: all registered metadata plus the server-made members."""
    body = dict(metadata)
    body["client_id"] = row.client_id
    body["client_id_issued_at"] = row.created_at
    if secret is not None:
        body["client_secret"] = secret
        body["client_secret_expires_at"] = 0
    if rat is not None:
        body["registration_access_token"] = rat
    body["registration_client_uri"] = registration_client_uri(svc, row.realm, row.client_id)
    return body


def registration_client_uri(svc: Services, realm: str, client_id: str) -> str:
    return f"{svc.issuer(realm)}/clients-registrations/openid-connect/{client_id}"


# --- helpers ------------------------------------------------------------------------------


def _checked_candidate(
    svc: Services,
    realm: RealmConfig,
    op: Operation,
    stored: Candidate,
    caller: Caller,
    body: Mapping[str, Any],
) -> Candidate:
    metadata = validate_client_metadata(body)
    check_scopes(realm, metadata.get("scope"), caller, stored.held_scopes)
    # the policies see the scopes asked for: Keycloak checks only those (allowed-client-scopes)
    candidate = apply_policies(realm, op, replace(stored, metadata=metadata), caller, svc.resolve)
    if candidate.metadata.get("scope"):
        return candidate
    # RFC 7591 §2: "If omitted, an authorization server MAY register a client with a
    # default set of scopes." — the realm's default scopes, echoed back.
    scope = " ".join(realm.scopes.default)
    return replace(candidate, metadata={**candidate.metadata, "scope": scope})


async def _authorized_client(
    svc: Services, realm: RealmConfig, client_id: str, cred: Credential, roles: frozenset[str]
) -> ClientRow:
    """The client a RAT or an admin bearer may act on; 401 / 403 / 404 per CONTRACT §3."""
    if cred.kind == "bearer":
        if not cred.roles & roles:
            raise InsufficientScope(
                f"The bearer token lacks the role: {' or '.join(sorted(roles))}"
            )
        row = await svc.store.get_client(realm.name, client_id)
        if row is None:
            raise NotFound(f"Client '{client_id[:64]}' not found")
        return row
    if cred.kind == "anonymous":
        raise MissingToken("A registration access token is required")
    if cred.kind != "registration_access_token":
        raise InvalidToken("A registration access token is required")
    row = await svc.store.get_client(realm.name, client_id)
    # an unknown client with a RAT is 401, never 404: the token does not fit this client
    if row is None or not same_secret(row.rat_digest, token_digest(cred.token)):
        raise InvalidToken("Registration access token is not valid for this client")
    if not row.enabled:
        raise InvalidToken("The client is disabled")
    return row


def _check_update_body(svc: Services, row: ClientRow, body: Mapping[str, Any]) -> None:
    # RFC 7592 §2.2: "The client MUST include its "client_id" field in the request, and it
    # MUST be the same as its currently issued client identifier."
    if body.get("client_id") != row.client_id:
        raise InvalidClientMetadata("client_id must be sent and equal the client's identifier")
    for member in READ_ONLY_ON_PUT:
        if member in body:
            raise InvalidClientMetadata(f"{member} is read-only and must not be sent")
    if "client_secret" in body:
        # RFC 7592 §2.2: "If the client includes the "client_secret" field in the request,
        # the value of this field MUST match the currently issued client secret"
        sent, current = body["client_secret"], _open_secret(svc, row)
        if not isinstance(sent, str) or current is None or not same_secret(sent, current):
            raise InvalidClientMetadata("client_secret does not match the issued client secret")


def _caller_for(row: ClientRow, cred: Credential, host: str) -> Caller:
    """A RAT acts under the policy set its client registered under (Keycloak's rule)."""
    if cred.kind == "registration_access_token":
        if row.registration_auth == "anonymous":
            return Caller(host=host, auth="anonymous", roles=frozenset())
        return Caller(host=host, auth="authenticated", roles=frozenset())
    return Caller(host=host, auth="authenticated", roles=cred.roles)


def _run_policies(
    svc: Services, realm: RealmConfig, op: Operation, row: ClientRow, cred: Credential, host: str
) -> None:
    candidate = Candidate(metadata=loads(row.metadata_json), enabled=row.enabled)
    apply_policies(realm, op, candidate, _caller_for(row, cred, host), svc.resolve)


def _open_secret(svc: Services, row: ClientRow) -> str | None:
    return svc.box.open(row.secret_sealed, row.client_id) if row.secret_sealed else None


def _needs_secret(metadata: Mapping[str, Any]) -> bool:
    return metadata.get("token_endpoint_auth_method") in SECRET_METHODS


async def _new_rat(svc: Services, realm: RealmConfig, auth: str, now: int) -> str:
    issuer = svc.issuer(realm.name)
    claims = {
        "jti": str(uuid.uuid4()),
        "iat": now,
        "iss": issuer,
        "aud": issuer,
        "typ": REGISTRATION_ACCESS_TOKEN,
        "registration_auth": auth,
    }
    return sign_internal(await svc.keyring.get(realm.name), claims)

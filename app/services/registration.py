"""RFC 7591 §3 create and RFC 7592 §2 read / update / delete of a client registration."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn, TypeVar

from app.auth.callers import Caller, RegistrationAuth
from app.auth.hosts import CachingResolver
from app.auth.keyring import Keyring
from app.auth.roles import (
    MANAGE_CLIENTS,
    TO_CREATE_CLIENTS,
    TO_MANAGE_CLIENTS,
    TO_VIEW_CLIENTS,
    holds,
    owns,
    require_admin,
    require_role,
    require_role_or_owner,
)
from app.auth.secret_box import SecretBox
from app.auth.secret_values import new_client_secret, same_secret, token_digest
from app.auth.tokens import REGISTRATION_ACCESS_TOKEN, sign_internal, token_claims
from app.config.realm_models import MaxClients, RealmConfig
from app.errors import (
    InvalidClientMetadata,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    NotFound,
    PolicyRefused,
    RegistrarError,
)
from app.jsonio import dumps
from app.metrics import POLICY_REFUSALS, REGISTRATIONS, labelled
from app.rules.client_metadata import validate_client_metadata
from app.rules.client_representation import KEYCLOAK_MEMBERS
from app.rules.policies import (
    Candidate,
    Operation,
    apply_policies,
    check_known_scopes,
    check_scopes,
    max_clients_refusal,
    names_to_resolve,
    policy_set,
)
from app.services.client_expiry import ClientUses
from app.services.deduplication import Deduplication, applies, registration_digest
from app.services.events import EventLog
from app.services.rate_limits import RateLimiter
from app.services.software_statements import SoftwareStatements
from app.store.errors import ClientIdTaken, RealmFull, SpendFailed
from app.store.ids import new_client_id
from app.store.queries import ClientRow, ClientUpdate, Store

MASKED_SECRET = "**********"
# RFC 7592 §2.2: "The client MUST NOT include the "registration_access_token",
# "registration_client_uri", "client_secret_expires_at", or "client_id_issued_at" fields"
READ_ONLY_ON_PUT = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)
T = TypeVar("T")
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})


@dataclass(frozen=True)
class Registered:
    """A client as a registration call leaves it: its row, metadata, secret and RAT to show."""

    row: ClientRow
    metadata: Mapping[str, Any]
    secret: str | None
    rat: str | None


@dataclass(frozen=True)
class Shape:
    """What a Keycloak representation (…/default, a SAML descriptor) asks beyond metadata: a
    clientId of its own, a secret of its own, members kept beside the metadata, and flags that
    the policies may only make stricter."""

    client_id: str | None = None
    secret: str | None = None
    kept: Mapping[str, Any] = field(default_factory=dict)
    consent_required: bool = False
    full_scope_allowed: bool = True
    enabled: bool = True


class Registrations:
    """Client registrations of every realm: what the registration endpoints, the INDIGO IAM
    path and the console's "New client" page all call."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        keyring: Keyring,
        resolve: CachingResolver,
        issuer: Callable[[str], str],
        limiter: RateLimiter | None = None,
        events: EventLog | None = None,
        uses: ClientUses | None = None,
    ) -> None:
        self._store = store
        self._uses = uses
        self._limiter = limiter
        self._events = events
        self._box = box
        self._keyring = keyring
        self._resolve = resolve
        self._issuer = issuer
        self._statements = SoftwareStatements()
        self._deduplication = Deduplication(store)

    async def register(
        self, realm: RealmConfig, caller: Caller, body: Mapping[str, Any], now: int
    ) -> dict[str, Any]:
        """RFC 7591 §3.1 (event CLIENT_REGISTER)."""
        return self.client_response(await self.register_shaped(realm, caller, body, now))

    async def register_shaped(
        self,
        realm: RealmConfig,
        caller: Caller,
        body: Mapping[str, Any],
        now: int,
        shape: Shape | None = None,
    ) -> Registered:
        """A registration by any provider: `body` is RFC 7591 metadata, `shape` what a
        Keycloak representation adds (event CLIENT_REGISTER)."""
        work = self._register(realm, caller, body, now, shape)
        return await self._recorded(realm, "CLIENT_REGISTER", caller, None, work)

    async def read(self, realm: RealmConfig, client_id: str, caller: Caller) -> dict[str, Any]:
        """RFC 7592 §2.1 (event CLIENT_INFO); a use of the client (client_expiry)."""
        return self.client_response(await self.read_shaped(realm, client_id, caller))

    async def read_shaped(self, realm: RealmConfig, client_id: str, caller: Caller) -> Registered:
        if self._uses is not None and caller.kind == "registration_access_token":
            self._uses.note(realm, client_id, int(time.time()))
        work = self._read(realm, client_id, caller)
        return await self._recorded(realm, "CLIENT_INFO", caller, client_id, work)

    async def update(
        self,
        realm: RealmConfig,
        client_id: str,
        caller: Caller,
        body: Mapping[str, Any],
        now: int,
    ) -> dict[str, Any]:
        """RFC 7592 §2.2 (event CLIENT_UPDATE); a use of the client (client_expiry)."""
        return self.client_response(await self.update_shaped(realm, client_id, caller, body, now))

    async def update_shaped(
        self,
        realm: RealmConfig,
        client_id: str,
        caller: Caller,
        body: Mapping[str, Any],
        now: int,
        shape: Shape | None = None,
    ) -> Registered:
        if self._uses is not None and caller.kind == "registration_access_token":
            self._uses.note(realm, client_id, now)
        work = self._update(realm, client_id, caller, body, now, shape)
        return await self._recorded(realm, "CLIENT_UPDATE", caller, client_id, work)

    async def remove(self, realm: RealmConfig, client_id: str, caller: Caller) -> None:
        """RFC 7592 §2.3 (event CLIENT_DELETE)."""
        work = self._remove(realm, client_id, caller)
        await self._recorded(realm, "CLIENT_DELETE", caller, client_id, work)

    async def _recorded(
        self,
        realm: RealmConfig,
        kind: str,
        caller: Caller,
        client_id: str | None,
        work: Awaitable[T],
    ) -> T:
        """Run `work` and record its event, or its _ERROR twin with the error code."""
        try:
            done = await work
        except RegistrarError as exc:
            if self._events is not None:
                self._events.record(realm, f"{kind}_ERROR", caller, client_id, exc.error)
            if isinstance(exc, PolicyRefused):
                POLICY_REFUSALS.labels(realm.name, exc.policy).inc()
            if kind == "CLIENT_REGISTER":
                REGISTRATIONS.labels(realm.name, exc.error).inc()
            raise
        if kind == "CLIENT_REGISTER":
            labelled(REGISTRATIONS, realm.name, "created").inc()
        if self._events is not None:
            shown = done.row.client_id if isinstance(done, Registered) else client_id
            self._events.record(realm, kind, caller, str(shown) if shown else client_id)
        return done

    async def _register(
        self,
        realm: RealmConfig,
        caller: Caller,
        body: Mapping[str, Any],
        now: int,
        shape: Shape | None,
    ) -> Registered:
        """RFC 7591 §3.1: validate, run the policies, store, answer with the full registration."""
        if caller.kind == "registration_access_token":
            raise InvalidToken("A registration access token cannot register a new client")
        if caller.kind == "bearer":
            self.check_may_register(caller)
        if caller.kind == "anonymous" and self._limiter is not None:
            await self._limiter.check(realm, "anonymous_registration", caller.host, now)
        if "client_id" in body:
            raise InvalidClientMetadata("client_id is assigned by the server and must not be sent")
        body, caller = await self._statements.on_register(realm, caller, body, now)
        counted = None
        if any(isinstance(policy, MaxClients) for policy in policy_set(realm, caller)):
            counted = await self._store.count_clients(realm.name)
        start = Candidate(metadata={}, clients_in_realm=counted)
        shape = shape or Shape()
        candidate = await self._checked_candidate(realm, "create", start, caller, body, shape.kept)
        key = new_client_id()
        client_id = shape.client_id or key
        secret = None
        if _needs_secret(candidate.metadata):
            secret = shape.secret or new_client_secret()
        rat = await self._new_rat(realm, caller.auth, now)
        metadata = _with_kept(candidate.metadata, shape.kept)
        row = ClientRow(
            client_id=client_id,
            realm=realm.name,
            metadata_json=dumps(metadata).decode(),
            secret_sealed=self._box.seal(secret, client_id) if secret else None,
            rat_digest=token_digest(rat),
            registration_auth=caller.auth,
            created_by_admin=holds(caller, TO_MANAGE_CLIENTS),
            # the policies' verdict, made only stricter by what the representation asks
            enabled=candidate.enabled and shape.enabled,
            consent_required=candidate.consent_required or shape.consent_required,
            full_scope_allowed=candidate.full_scope_allowed and shape.full_scope_allowed,
            created_at=now,
            updated_at=now,
            id="" if client_id == key else key,
            registered_by=caller.user or None,  # the person's "My clients"
        )
        spent = None
        if caller.kind == "initial_access_token":
            spent = (caller.jti, token_digest(caller.token))
        try:
            # a clientId chosen by its caller names a client of its own, never an earlier one
            if shape.client_id is None and applies(realm, caller, candidate.metadata):
                digest = registration_digest(caller, body)
                earlier = await self._deduplication.register(
                    realm, row, digest, candidate.max_clients
                )
                if earlier is not None:  # the same client again, with this new RAT
                    return Registered(earlier, earlier.metadata(), None, rat)
            else:
                await self._store.insert_client(row, spent, candidate.max_clients, now)
        except SpendFailed as exc:
            raise InvalidToken("Initial access token is used up, expired or deleted") from exc
        except RealmFull as exc:
            raise PolicyRefused(
                candidate.max_clients_policy or "Max Clients Limit",
                max_clients_refusal(candidate.max_clients or 0),
            ) from exc
        except ClientIdTaken as exc:
            # Keycloak's answer to a clientId the realm already has
            raise InvalidClientMetadata("Client Identifier in use") from exc
        return Registered(row, metadata, secret, rat)

    async def _read(self, realm: RealmConfig, client_id: str, caller: Caller) -> Registered:
        """RFC 7592 §2.1: a GET does not rotate the RAT; the answer carries the token presented."""
        row, caller = await self._authorized_client(realm, client_id, caller, TO_VIEW_CLIENTS)
        candidate = Candidate(metadata=row.metadata(), enabled=row.enabled)
        await self._apply_policies(realm, "read", candidate, caller)
        secret = self._unseal_secret(row)
        if (
            secret is not None
            and caller.kind == "bearer"
            and MANAGE_CLIENTS not in caller.roles
            and not owns(caller, row.registered_by)
        ):
            secret = MASKED_SECRET
        rat = caller.token if caller.kind == "registration_access_token" else None
        return Registered(row, row.metadata(), secret, rat)

    async def adapter_config(
        self, realm: RealmConfig, client_id: str, caller: Caller
    ) -> dict[str, Any]:
        """Keycloak's adapter configuration of a client (its "keycloak-oidc-keycloak-json"
        installation, what `kcreg get CLIENT -e install` prints), for a RAT or a bearer."""
        registered = await self.read(realm, client_id, caller)
        issuer = self._issuer(realm.name)
        config: dict[str, Any] = {
            "realm": realm.name,
            "auth-server-url": issuer.removesuffix(f"/realms/{realm.name}") + "/",
            "ssl-required": "external",
            "resource": client_id,
        }
        if registered.get("token_endpoint_auth_method") == "none":
            config["public-client"] = True
        elif "client_secret" in registered:
            config["credentials"] = {"secret": registered["client_secret"]}
        config["confidential-port"] = 0
        return config

    async def _update(
        self,
        realm: RealmConfig,
        client_id: str,
        caller: Caller,
        body: Mapping[str, Any],
        now: int,
        shape: Shape | None,
    ) -> Registered:
        """RFC 7592 §2.2: the body replaces the metadata; with a RAT and rotation on, a new RAT.
        What a representation kept beside the metadata stays unless `shape` brings its own."""
        row, caller = await self._authorized_client(realm, client_id, caller, TO_MANAGE_CLIENTS)
        self._check_update_body(row, body)
        body = await self._statements.on_update(realm, caller, row.metadata(), body, now)
        # The flags start neutral, so the policies' result is what this update demands of them
        # (consent-required sets consent_required, scope clears full_scope_allowed); the store
        # applies only that, and never writes `enabled`: what an admin set after this request
        # read the row is not written back (docs/reference.md §4).
        stored = Candidate(
            metadata={}, held_scopes=frozenset(str(row.metadata().get("scope") or "").split())
        )
        kept = shape.kept if shape is not None else row.metadata().get(KEYCLOAK_MEMBERS, {})
        candidate = await self._checked_candidate(realm, "update", stored, caller, body, kept)
        metadata = _with_kept(candidate.metadata, kept)
        secret = self._unseal_secret(row)
        keep_secret = secret is not None and _needs_secret(candidate.metadata)
        if not _needs_secret(candidate.metadata):
            secret = None
        elif secret is None:
            secret = new_client_secret()
        by_rat = caller.kind == "registration_access_token"
        rotate = by_rat and realm.registration.rotate_registration_access_token
        rat = await self._new_rat(realm, caller.auth, now) if rotate else None
        # compare-and-swap on the presented RAT: of concurrent PUTs with one token exactly one
        # wins, and none once an admin has disabled the client
        expected = token_digest(caller.token) if by_rat else None
        update = ClientUpdate(
            client_id=row.client_id,
            realm=row.realm,
            metadata_json=dumps(metadata).decode(),
            secret_sealed=self._box.seal(secret, row.client_id) if secret else None,
            keep_secret=keep_secret,
            rat_digest=token_digest(rat) if rat else None,  # None: keep the stored one
            requires_consent=candidate.consent_required
            or (shape is not None and shape.consent_required),
            limits_scope=not candidate.full_scope_allowed
            or (shape is not None and not shape.full_scope_allowed),
            updated_at=now,
            expected_rat_digest=expected,
        )
        if not await self._store.replace_client(update):
            await self._refuse_lost_race(realm, client_id, expected)
        shown_rat = rat if rotate else (caller.token if by_rat else None)
        shown = replace(
            row,
            consent_required=row.consent_required or update.requires_consent,
            full_scope_allowed=row.full_scope_allowed and not update.limits_scope,
        )
        return Registered(shown, metadata, secret, shown_rat)

    async def _remove(self, realm: RealmConfig, client_id: str, caller: Caller) -> None:
        """RFC 7592 §2.3: the client id, its secret and its RAT stop working at once."""
        row, caller = await self._authorized_client(realm, client_id, caller, TO_MANAGE_CLIENTS)
        candidate = Candidate(metadata=row.metadata(), enabled=row.enabled)
        await self._apply_policies(realm, "delete", candidate, caller)
        by_rat = caller.kind == "registration_access_token"
        expected = token_digest(caller.token) if by_rat else None
        if not await self._store.delete_client(realm.name, client_id, expected):
            await self._refuse_lost_race(realm, client_id, expected)

    async def regenerate_secret(
        self, realm: RealmConfig, client_id: str, caller: Caller, now: int
    ) -> str:
        """Keycloak's "Regenerate secret" (manage-clients): a new secret, the old one refused
        from now on. A public client has no secret to regenerate (400)."""
        require_admin(caller, TO_MANAGE_CLIENTS)
        row = await self._store.get_client(realm.name, client_id)
        if row is None:
            raise NotFound(f"Client '{client_id[:64]}' not found")
        secret = new_client_secret()
        sealed = self._box.seal(secret, client_id)
        if not await self._store.set_client_secret(realm.name, client_id, sealed, now):
            if await self._store.get_client(realm.name, client_id) is None:
                raise NotFound(f"Client '{client_id[:64]}' not found")
            raise InvalidRequest("The client is public: it has no secret to regenerate")
        return secret

    async def regenerate_registration_access_token(
        self, realm: RealmConfig, client_id: str, caller: Caller, now: int
    ) -> str:
        """Keycloak's "Regenerate registration access token" (manage-clients): a new RAT, the
        old one refused from now on (RFC 7592 §2: the server may rotate it at any time)."""
        require_admin(caller, TO_MANAGE_CLIENTS)
        row = await self._store.get_client(realm.name, client_id)
        if row is None:
            raise NotFound(f"Client '{client_id[:64]}' not found")
        rat = await self._new_rat(realm, _registration_auth(row), now)
        if not await self._store.set_client_rat(realm.name, client_id, token_digest(rat), now):
            raise NotFound(f"Client '{client_id[:64]}' not found")
        return rat

    async def _refuse_lost_race(
        self, realm: RealmConfig, client_id: str, expected_rat_digest: str | None
    ) -> NoReturn:
        """Why a write that passed _authorized_client changed nothing: the client was deleted,
        its RAT rotated, or an admin disabled it, after this request read it."""
        if expected_rat_digest is None:
            raise NotFound(f"Client '{client_id}' not found")
        row = await self._store.get_client(realm.name, client_id)
        if row is not None and not row.enabled and same_secret(row.rat_digest, expected_rat_digest):
            # what this request would have got from _authorized_client a moment later
            raise InvalidToken("The client is disabled")
        raise InvalidToken("Registration access token is no longer valid")

    def check_may_register(self, caller: Caller) -> None:
        """A bearer registers clients with create-client or manage-clients (403 otherwise); a
        signed-in person registers their own clients, as on INDIGO IAM's dashboard."""
        if not caller.user:
            require_role(caller, TO_CREATE_CLIENTS)

    def client_response(self, registered: Registered) -> dict[str, Any]:
        """RFC 7591 §3.2.1 / RFC 7592 §3: all registered metadata plus the server-made members
        (not what a Keycloak representation kept beside the metadata)."""
        row, secret, rat = registered.row, registered.secret, registered.rat
        body = {k: v for k, v in registered.metadata.items() if k != KEYCLOAK_MEMBERS}
        body["client_id"] = row.client_id
        body["client_id_issued_at"] = row.created_at
        if secret is not None:
            body["client_secret"] = secret
            body["client_secret_expires_at"] = 0
        if rat is not None:
            body["registration_access_token"] = rat
        body["registration_client_uri"] = self.registration_client_uri(row.realm, row.client_id)
        return body

    def registration_client_uri(self, realm: str, client_id: str) -> str:
        return f"{self._issuer(realm)}/clients-registrations/openid-connect/{client_id}"

    async def _apply_policies(
        self, realm: RealmConfig, op: Operation, candidate: Candidate, caller: Caller
    ) -> Candidate:
        """The caller's policy set, in file order, with its host names resolved beforehand
        (off the event loop: the policies only read the resolver's cache)."""
        await self._resolve.prefetch(names_to_resolve(realm, caller))
        return apply_policies(realm, op, candidate, caller, self._resolve)

    async def _checked_candidate(
        self,
        realm: RealmConfig,
        op: Operation,
        stored: Candidate,
        caller: Caller,
        body: Mapping[str, Any],
        kept: Mapping[str, Any] | None = None,
    ) -> Candidate:
        metadata = validate_client_metadata(body)
        check_scopes(realm, metadata.get("scope"), caller, stored.held_scopes)
        # the policies see the scopes asked for: Keycloak checks only those (allowed-client-scopes)
        # and the URLs a representation keeps beside the metadata (trusted-hosts)
        start = stored.with_metadata(_with_kept(metadata, kept or {}))
        candidate = await self._apply_policies(realm, op, start, caller)
        check_known_scopes(realm, metadata.get("scope"))
        if candidate.metadata.get("scope"):
            return candidate
        # RFC 7591 §2: "If omitted, an authorization server MAY register a client with a
        # default set of scopes." — the realm's default scopes, echoed back.
        scope = " ".join(realm.scopes.default)
        return candidate.with_metadata({**candidate.metadata, "scope": scope})

    async def _authorized_client(
        self, realm: RealmConfig, client_id: str, caller: Caller, permitted: frozenset[str]
    ) -> tuple[ClientRow, Caller]:
        """The client a RAT or an admin bearer may act on (401 / 403 / 404, docs/reference.md
        §3), and the caller as the policies see it: a RAT acts under its client's policy set."""
        if caller.kind in ("bearer", "operator"):
            if not caller.user:
                require_role(caller, permitted)
            row = await self._store.get_client(realm.name, client_id)
            if row is None:
                if caller.user:
                    require_role(caller, permitted)  # a person learns nothing of others' ids
                raise NotFound(f"Client '{client_id[:64]}' not found")
            # a person acts on the clients they registered, on others' only with the role
            require_role_or_owner(caller, permitted, row.registered_by)
            return row, caller
        if caller.kind == "anonymous":
            raise MissingToken("A registration access token is required")
        if caller.kind != "registration_access_token":
            raise InvalidToken("A registration access token is required")
        row = await self._store.get_client(realm.name, client_id)
        # an unknown client with a RAT is 401, never 404: the token does not fit this client
        if row is None or not same_secret(row.rat_digest, token_digest(caller.token)):
            raise InvalidToken("Registration access token is not valid for this client")
        if not row.enabled:
            raise InvalidToken("The client is disabled")
        return row, caller.acting_as(_registration_auth(row))

    def _check_update_body(self, row: ClientRow, body: Mapping[str, Any]) -> None:
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
            sent, current = body["client_secret"], self._unseal_secret(row)
            if not isinstance(sent, str) or current is None or not same_secret(sent, current):
                raise InvalidClientMetadata("client_secret does not match the issued client secret")

    def _unseal_secret(self, row: ClientRow) -> str | None:
        return self._box.unseal(row.secret_sealed, row.client_id) if row.secret_sealed else None

    async def _new_rat(self, realm: RealmConfig, auth: RegistrationAuth, now: int) -> str:
        claims = token_claims(self._issuer(realm.name), REGISTRATION_ACCESS_TOKEN, now)
        claims["registration_auth"] = auth
        return sign_internal(await self._keyring.get(realm.name), claims)


def _with_kept(metadata: Mapping[str, Any], kept: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata to store: RFC 7591 members, and what a representation keeps beside them."""
    stored = {k: v for k, v in metadata.items() if k != KEYCLOAK_MEMBERS}
    if kept:
        stored[KEYCLOAK_MEMBERS] = dict(kept)
    return stored


def _needs_secret(metadata: Mapping[str, Any]) -> bool:
    return metadata.get("token_endpoint_auth_method") in SECRET_METHODS


def _registration_auth(row: ClientRow) -> RegistrationAuth:
    return "anonymous" if row.registration_auth == "anonymous" else "authenticated"

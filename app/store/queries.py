"""Every query of the service. Guarantees (docs/reference.md §4) live in SQL, not in Python locks.

- An initial access token is spent by a conditional UPDATE in the same transaction as the insert.
- `max-clients` counts the realm's clients inside that transaction, with writers of the realm
  serialised (SQLite: one writer at a time; PostgreSQL: a transaction-scoped advisory lock).
- Registrations spending one token share transactions (app.store.batching): k uses are spent only
  if k remain, else each is retried alone, so exactly as many win as uses remained. On
  PostgreSQL the spend and the inserts are one statement, so the token's row lock is held for
  one round trip and the commit, not for the whole conversation.
- RAT rotation and DELETE are compare-and-swap on the stored token digest; with a RAT they also
  require the client to be enabled when they commit, not only when the service read it.
- An update never writes `enabled`, and changes the policy flags only as the update demands
  (ClientUpdate): what an admin set since the update read the row is never written back.
A change is committed before the service answers, so a 201 or 200 is durable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.jsonio import dumps, loads
from app.store.batching import KeyedBatcher
from app.store.database import Database, Tx, is_unique_violation, open_database
from app.store.errors import ClientIdTaken, RealmFull, SpendFailed
from app.store.read_cache import remember
from app.store.schema import CLIENT_ID_LENGTH


@dataclass(frozen=True)
class ClientRow:
    client_id: str  # what the client presents (Keycloak's clientId), unique in its realm
    realm: str
    metadata_json: str
    secret_sealed: str | None
    rat_digest: str
    registration_auth: str
    enabled: bool
    consent_required: bool
    full_scope_allowed: bool
    created_at: int
    updated_at: int
    # access tokens of this client issued at or before this second are inactive (epoch seconds;
    # set when an admin disables the client, so re-enabling does not revive them)
    tokens_valid_after: int = 0
    last_used_at: int = 0  # epoch seconds; 0: never used (a token, a registration read or PUT)
    # Keycloak's `id`, what admin paths name: "" for the client_id itself (every server-made
    # client_id); a server-made UUID when the caller chose its client_id
    id: str = ""
    created_by_admin: bool = False  # registered by a bearer holding manage-clients
    registered_by: str | None = None  # the signed-in person who registered it, if one did

    @property
    def key(self) -> str:
        """Keycloak's `id` of the client."""
        return self.id or self.client_id

    def metadata(self) -> dict[str, Any]:
        """The client's registered metadata (RFC 7591 §2), decoded."""
        decoded: dict[str, Any] = loads(self.metadata_json)
        return decoded


@dataclass(frozen=True)
class ClientUpdate:
    """What an RFC 7592 update writes over a client.

    Not `enabled`, which only an admin sets, and the policy flags only as a change this update
    demands (consent-required sets consent_required, scope clears full_scope_allowed): a client's
    update that read the row before an admin changed it must not write the old values back.
    """

    client_id: str
    realm: str
    metadata_json: str
    secret_sealed: str | None
    # keep the stored secret if there is one (else write secret_sealed): an update that does not
    # change the secret must not write back the one it read, which an admin may have
    # regenerated since
    keep_secret: bool
    # None keeps the stored RAT: an update that does not rotate it must not write back the one
    # it read, which an admin may have regenerated since (Store.set_client_rat)
    rat_digest: str | None
    requires_consent: bool  # set consent_required; False leaves it as stored
    limits_scope: bool  # clear full_scope_allowed; False leaves it as stored
    updated_at: int
    # with a digest (a RAT's update), compare-and-swap on the stored RAT digest, and only while
    # the client is enabled; without (an admin), unconditional
    expected_rat_digest: str | None


@dataclass(frozen=True)
class EventRow:
    realm: str
    time: int  # epoch milliseconds
    type: str
    client_id: str | None
    user_id: str | None
    ip_address: str | None
    error: str | None
    details_json: str | None


@dataclass(frozen=True)
class EventQuery:
    """Keycloak's event filters: types, client, a time range (epoch ms, inclusive), a page."""

    types: tuple[str, ...] = ()
    client_id: str | None = None
    time_from: int | None = None
    time_to: int | None = None
    first: int = 0
    limit: int = 100


EVENT_COLUMNS = "realm, time, type, client_id, user_id, ip_address, error, details_json"


@dataclass(frozen=True)
class InitialAccessTokenRow:
    id: str
    realm: str
    created_at: int
    expires_at: int | None
    count: int
    remaining: int


# `client_id` in SQL is the row's key (Keycloak's `id`), `public_client_id` what the client
# presents (Keycloak's clientId; ClientRow.client_id): every lookup of a client is by the latter
CLIENT_COLUMNS = (
    "public_client_id, realm, metadata_json, secret_sealed, rat_digest, registration_auth, "
    "enabled, consent_required, full_scope_allowed, created_at, updated_at, client_id, "
    "created_by_admin, registered_by"
)
# read: the inserted columns and those the store sets later (a new client's take their defaults)
CLIENT_READ_COLUMNS = (
    "public_client_id, realm, metadata_json, secret_sealed, rat_digest, registration_auth, "
    "enabled, consent_required, full_scope_allowed, created_at, updated_at, "
    "tokens_valid_after, last_used_at, client_id, created_by_admin, registered_by"
)
INITIAL_ACCESS_TOKEN_COLUMNS = "id, realm, created_at, expires_at, count, remaining"
INSERT_CLIENT = f"INSERT INTO client ({CLIENT_COLUMNS}) VALUES ({', '.join('?' * 14)})"
# k uses of a live token, only if k remain; of racing callers the row lock decides
SPEND_USES = (
    "UPDATE initial_access_token SET remaining = remaining - ? "
    "WHERE id = ? AND token_digest = ? AND realm = ? AND remaining >= ? "
    "AND (expires_at IS NULL OR expires_at > ?)"
)
# PostgreSQL: k uses spent and k clients inserted in one statement: the inserts happen only if
# the spend did. The rows travel as one JSON text (json_rows), so the text is the same for every
# k (one prepared statement); measured faster than one array per column here, where no join
# depends on the planner's guess of how many rows the JSON holds.
SPEND_AND_INSERT_PG = (
    f"WITH spent AS ({SPEND_USES} RETURNING 1) "
    f"INSERT INTO client ({CLIENT_COLUMNS}) SELECT "
    "r->>0, r->>1, r->>2, r->>3, r->>4, r->>5, (r->>6)::boolean, (r->>7)::boolean, "
    "(r->>8)::boolean, (r->>9)::integer, (r->>10)::integer, r->>11, (r->>12)::boolean, r->>13 "
    "FROM jsonb_array_elements(?::jsonb) AS r WHERE EXISTS (SELECT 1 FROM spent)"
)

# ClientUpdate: with a digest, compare-and-swap on the stored RAT digest while the client is
# enabled; without (an admin), unconditional
REPLACE_CLIENT = (
    "UPDATE client SET metadata_json = ?, "
    "secret_sealed = CASE WHEN ? AND secret_sealed IS NOT NULL THEN secret_sealed ELSE ? END, "
    "rat_digest = COALESCE(?, rat_digest), "
    "consent_required = (consent_required OR ?), "
    "full_scope_allowed = (full_scope_allowed AND NOT ?), updated_at = ? "
    "WHERE public_client_id = ? AND realm = ? AND (? IS NULL OR (rat_digest = ? AND enabled))"
)
# PostgreSQL: REPLACE_CLIENT for several clients of one realm (distinct ids) in one statement
REPLACE_CLIENTS_PG = (
    "UPDATE client AS c SET metadata_json = v.metadata_json, "
    "secret_sealed = CASE WHEN v.keep_secret AND c.secret_sealed IS NOT NULL "
    "THEN c.secret_sealed ELSE v.secret_sealed END, "
    "rat_digest = COALESCE(v.rat_digest, c.rat_digest), "
    "consent_required = (c.consent_required OR v.requires_consent), "
    "full_scope_allowed = (c.full_scope_allowed AND NOT v.limits_scope), "
    "updated_at = v.updated_at "
    "FROM unnest(?::text[], ?::text[], ?::text[], ?::boolean[], ?::boolean[], "
    "?::integer[], ?::text[], ?::text[], ?::boolean[]) AS v(metadata_json, secret_sealed, "
    "rat_digest, requires_consent, limits_scope, updated_at, client_id, expected, keep_secret) "
    "WHERE c.public_client_id = v.client_id AND c.realm = ? "
    "AND (v.expected IS NULL OR (c.rat_digest = v.expected AND c.enabled)) "
    "RETURNING c.public_client_id"
)
# an admin's disable: tokens issued up to now stay inactive after a re-enable (never moved back)
DISABLE_CLIENT = (
    "UPDATE client SET enabled = ?, updated_at = ?, tokens_valid_after = "
    "CASE WHEN tokens_valid_after > ? THEN tokens_valid_after ELSE ? END "
    "WHERE public_client_id = ? AND realm = ?"
)
ENABLE_CLIENT = (
    "UPDATE client SET enabled = ?, updated_at = ? WHERE public_client_id = ? AND realm = ?"
)


# enabled; disabled; waiting: held disabled since registration (client-disabled policy), never
# yet approved nor disabled by an admin (an admin's disable sets tokens_valid_after)
ClientState = Literal["enabled", "disabled", "waiting"]


@dataclass(frozen=True)
class ClientFilter:
    """Which clients of a realm a listing shows."""

    client_id: str | None = None  # exactly this id
    client_id_contains: str | None = None  # ids containing this text, case-insensitively
    state: ClientState | None = None
    newest_first: bool = False
    registered_by: str | None = None  # only the clients this person registered


def _client_conditions(realm: str, where: ClientFilter) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (values as parameters, never in the text) of a client listing."""
    conditions, params = ["realm = ?"], [realm]
    if where.client_id is not None:
        conditions.append("public_client_id = ?")
        params.append(where.client_id)
    if where.client_id_contains is not None:
        conditions.append("lower(public_client_id) LIKE ? ESCAPE '!'")
        escaped = re.sub(r"([!%_])", r"!\1", where.client_id_contains.lower())
        params.append(f"%{escaped}%")
    if where.registered_by is not None:
        conditions.append("registered_by = ?")
        params.append(where.registered_by)
    if where.state == "enabled":
        conditions.append("enabled")
    elif where.state == "disabled":
        conditions.append("NOT enabled")
    elif where.state == "waiting":
        conditions.append("NOT enabled AND tokens_valid_after = 0")
    return " AND ".join(conditions), tuple(params)


def is_key(value: str) -> bool:
    """Whether a caller-given id can name a row: ids are server-made UUIDs, caller-chosen
    clientIds or metadata documents' URLs (CLIENT_ID_LENGTH at most), and PostgreSQL refuses a
    NUL byte in text (an error, not a miss), so such ids name nothing."""
    return len(value) <= CLIENT_ID_LENGTH and "\x00" not in value


def _client(row: tuple[Any, ...]) -> ClientRow:
    # SQLite hands booleans back as 0/1
    return ClientRow(
        row[0], row[1], row[2], row[3], row[4], row[5],
        bool(row[6]), bool(row[7]), bool(row[8]), int(row[9]), int(row[10]), int(row[11]),
        int(row[12]), "" if row[13] == row[0] else row[13], bool(row[14]), row[15],
    )  # fmt: skip


def json_rows(rows: Iterable[Sequence[Any]]) -> str:
    """Rows for a PostgreSQL statement as one JSON text, unpacked by `jsonb_array_elements` and
    `->>` with a cast per column: psycopg dumps a list parameter element by element in Python,
    a str in one piece."""
    return dumps(list(rows)).decode()


def array_literal(values: Iterable[str | int | bool | None]) -> str:
    """A PostgreSQL array literal (`{"a","b\\"c",NULL,t,7}`) for a `?::text[]`, `?::boolean[]` or
    `?::integer[]` parameter: strings quoted with their backslashes and double quotes escaped
    (so the string "NULL" stays a string), None as NULL. psycopg would dump a list parameter in
    Python, element by element (most of a batched insert's client time in a profile); this is
    one join. Arrays, not JSON, where a join follows: with `unnest` PostgreSQL plans the batched
    UPDATE's join by the client index, where a `jsonb_array_elements` source (guessed at 100
    rows) made it scan the whole table."""
    return "{" + ",".join(map(_array_element, values)) + "}"


def _array_element(value: str | int | bool | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def columns_of(rows: Iterable[Sequence[str | int | bool | None]]) -> list[str]:
    """Rows turned into one array literal per column (for `unnest`)."""
    return [array_literal(column) for column in zip(*rows, strict=True)]


def client_params(row: ClientRow) -> tuple[Any, ...]:
    return (
        row.client_id, row.realm, row.metadata_json, row.secret_sealed, row.rat_digest,
        row.registration_auth, row.enabled, row.consent_required, row.full_scope_allowed,
        row.created_at, row.updated_at, row.key, row.created_by_admin, row.registered_by,
    )  # fmt: skip


def _replace_params(update: ClientUpdate) -> tuple[Any, ...]:
    return (
        update.metadata_json, update.keep_secret, update.secret_sealed, update.rat_digest,
        update.requires_consent, update.limits_scope, update.updated_at, update.client_id,
        update.realm, update.expected_rat_digest, update.expected_rat_digest,
    )  # fmt: skip


def _replace_columns(update: ClientUpdate) -> tuple[Any, ...]:
    """One row of REPLACE_CLIENTS_PG's arrays, in the order of its `v(...)` columns."""
    return (
        update.metadata_json, update.secret_sealed, update.rat_digest, update.requires_consent,
        update.limits_scope, update.updated_at, update.client_id, update.expected_rat_digest,
        update.keep_secret,
    )  # fmt: skip


class Store:
    """Every query, awaited: inline on embedded SQLite, asyncio I/O on PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # registrations spending one token share transactions (app.store.batching)
        self._token_spends: KeyedBatcher[tuple[str, str, str], tuple[ClientRow, int], bool] = (
            KeyedBatcher(self._spend_and_insert_group)
        )
        self._client_updates: KeyedBatcher[str, ClientUpdate, bool] = KeyedBatcher(
            self._replace_clients
        )
        # PostgreSQL: concurrent reads of one realm's clients share a query
        self._client_reads: KeyedBatcher[str, str, ClientRow | None] = KeyedBatcher(
            self._get_clients
        )
        # PostgreSQL: concurrent revocation lookups of one realm (every introspection) too
        self._revocation_reads: KeyedBatcher[str, str, bool] = KeyedBatcher(self._revoked_among)
        # PostgreSQL: an introspecting client's row with its token's revocation, batched alike
        self._client_revocation_reads: KeyedBatcher[
            str, tuple[str, str], tuple[ClientRow | None, bool]
        ] = KeyedBatcher(self._get_clients_and_revoked)

    @classmethod
    def for_url(cls, url: str, pool_size: int = 24, create: bool = True) -> Store:
        """The store at `url`; pool_size: PostgreSQL connections at most (per process); create
        false: an SQLite database must exist already."""
        return cls(open_database(url, pool_size, create))

    @property
    def dialect(self) -> str:
        return self.db.dialect

    def create_schema(self) -> None:
        self.db.create_schema()

    async def start(self) -> None:
        await self.db.start()

    async def stop(self) -> None:
        await self.db.stop()

    async def ping(self) -> None:
        await self.db.read_retrying(lambda tx: tx.one("SELECT 1"))

    # --- meta and keys ------------------------------------------------------------------------

    async def get_or_put_meta(self, name: str, value: str) -> str:
        """The stored value for `name`, storing `value` first if there is none."""
        async with self.db.write() as tx:
            await tx.run(
                "INSERT INTO registrar_meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (name, value),
            )
            found = await tx.one("SELECT value FROM registrar_meta WHERE name = ?", (name,))
        assert found is not None
        return str(found[0])

    async def get_realm_key(self, realm: str) -> str | None:
        found = await self.db.read_retrying(
            lambda tx: tx.one("SELECT sealed FROM realm_key WHERE realm = ?", (realm,))
        )
        return str(found[0]) if found else None

    async def put_realm_key(self, realm: str, sealed: str, now: int) -> str:
        """Store a realm's sealed keys unless another process did first; return the stored ones."""
        async with self.db.write() as tx:
            await tx.run(
                "INSERT INTO realm_key (realm, sealed, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (realm, sealed, now),
            )
            found = await tx.one("SELECT sealed FROM realm_key WHERE realm = ?", (realm,))
        assert found is not None
        return str(found[0])

    # --- clients ------------------------------------------------------------------------------

    async def insert_client(
        self, row: ClientRow, spent: tuple[str, str] | None, max_clients: int | None, now: int
    ) -> None:
        """Insert a client, spending one use of the initial access token `spent` (id, digest),
        if any, and respecting max_clients.

        Atomic: a refused registration spends nothing and counts nothing. A clientId another
        client of the realm has raises ClientIdTaken (the unique index decides, races too).
        """
        try:
            await self._insert_client(row, spent, max_clients, now)
        except Exception as exc:
            if is_unique_violation(exc):
                raise ClientIdTaken() from exc
            raise

    async def _insert_client(
        self, row: ClientRow, spent: tuple[str, str] | None, max_clients: int | None, now: int
    ) -> None:
        if max_clients is None and spent is None:
            await self.db.write_one(INSERT_CLIENT, client_params(row))
            return
        # a caller-chosen clientId may be taken: alone in its transaction, so a clash fails only
        # its own registration, not a batch's
        if max_clients is None and spent is not None and not row.id:
            if not await self._token_spends.submit((*spent, row.realm), (row, now)):
                raise SpendFailed()
            return
        async with self.db.write() as tx:
            if max_clients is not None and not await self.room_for_one(tx, row.realm, max_clients):
                raise RealmFull()
            if spent is not None and await tx.run(SPEND_USES, (1, *spent, row.realm, 1, now)) != 1:
                raise SpendFailed()
            await tx.run(INSERT_CLIENT, client_params(row))

    async def _spend_and_insert_group(
        self, key: tuple[str, str, str], group: list[tuple[ClientRow, int]]
    ) -> list[bool]:
        """Insert the group's clients, spending one use of the token each: all together if
        enough uses remain, else one by one, so exactly as many win as uses remained."""
        if len(group) > 1 and await self._spend_and_insert(key, group):
            return [True] * len(group)
        return [await self._spend_and_insert(key, [one]) for one in group]

    async def _spend_and_insert(
        self, key: tuple[str, str, str], group: list[tuple[ClientRow, int]]
    ) -> bool:
        token_id, digest, realm = key
        # the token must be live at the latest request's time
        now = max(when for _, when in group)
        uses = (len(group), token_id, digest, realm, len(group), now)
        rows = [client_params(row) for row, _ in group]
        if self.dialect == "postgresql":
            spent = await self.db.write_one(SPEND_AND_INSERT_PG, (*uses, json_rows(rows)))
            return spent == len(group)
        async with self.db.write() as tx:
            if await tx.run(SPEND_USES, uses) != 1:
                return False  # nothing written: the transaction commits empty
            await tx.many(INSERT_CLIENT, rows)
        return True

    async def room_for_one(self, tx: Tx, realm: str, max_clients: int) -> bool:
        """Whether the realm holds fewer than max_clients clients, counted race-free."""
        if self.dialect == "postgresql":
            # serialise this realm's capped inserts until commit; SQLite has one writer anyway
            await tx.one("SELECT pg_advisory_xact_lock(hashtext(?))", (f"registrar-realm:{realm}",))
        found = await tx.one("SELECT count(*) FROM client WHERE realm = ?", (realm,))
        return found is not None and int(found[0]) < max_clients

    async def insert_clients_bulk(self, rows: list[ClientRow]) -> None:
        """Insert many clients in one transaction (for `scripts/bench --preload`; registration
        goes through insert_client)."""
        if rows:
            async with self.db.write() as tx:
                await tx.many(INSERT_CLIENT, [client_params(row) for row in rows])

    async def get_client(self, realm: str, client_id: str) -> ClientRow | None:
        if not is_key(client_id):
            return None
        if self.dialect == "postgresql":
            return await self._client_reads.submit(realm, client_id)
        cache = self.db.unchanged_reads()
        key = ("client", realm, client_id)
        if cache is not None and key in cache:
            cached: ClientRow | None = cache[key]
            return cached
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                f"SELECT {CLIENT_READ_COLUMNS} FROM client "
                "WHERE public_client_id = ? AND realm = ?",
                (client_id, realm),
            )
        )
        row = _client(found) if found is not None else None
        if cache is not None:
            remember(cache, key, row)
        return row

    async def get_client_and_revoked(
        self, realm: str, client_id: str, jti: str
    ) -> tuple[ClientRow | None, bool]:
        """A client and whether token id `jti` of its realm is revoked, in one query: an
        introspection's two reads (the caller's row, the token's revocation) as one round trip.
        The revocation is False when the client is not found (nothing was looked up)."""
        if not is_key(client_id):
            return None, False
        if not is_key(jti):
            return await self.get_client(realm, client_id), False
        if self.dialect == "postgresql":
            return await self._client_revocation_reads.submit(realm, (client_id, jti))
        cache = self.db.unchanged_reads()
        client_key, jti_key = ("client", realm, client_id), ("revoked", realm, jti)
        if cache is not None and client_key in cache and jti_key in cache:
            return cache[client_key], cache[jti_key]
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                f"SELECT {CLIENT_READ_COLUMNS}, EXISTS(SELECT 1 FROM revoked_token "
                "WHERE jti = ? AND realm = ?) FROM client WHERE public_client_id = ? AND realm = ?",
                (jti, realm, client_id, realm),
            )
        )
        if found is None:
            return None, False
        row, revoked = _client(found), bool(found[-1])
        if cache is not None:
            remember(cache, client_key, row)
            remember(cache, jti_key, revoked)
        return row, revoked

    async def _get_clients_and_revoked(
        self, realm: str, asked: list[tuple[str, str]]
    ) -> list[tuple[ClientRow | None, bool]]:
        """get_client_and_revoked of several (client id, jti) pairs of one realm (PostgreSQL):
        the revoked ids among all the batch's come along with every client row (an uncorrelated
        sub-select, evaluated once per statement)."""
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                f"SELECT {CLIENT_READ_COLUMNS}, ARRAY(SELECT jti FROM revoked_token "
                "WHERE jti = ANY(?::text[]) AND realm = ?) "
                "FROM client WHERE public_client_id = ANY(?::text[])",
                (
                    array_literal(jti for _, jti in asked),
                    realm,
                    array_literal(client_id for client_id, _ in asked),
                ),
            )
        )
        found = {row[0]: _client(row) for row in rows if row[1] == realm}
        revoked: set[str] = set(rows[0][-1]) if rows else set()
        return [
            (found[client_id], jti in revoked) if client_id in found else (None, False)
            for client_id, jti in asked
        ]

    async def get_client_by_key(self, realm: str, key: str) -> ClientRow | None:
        """The client whose Keycloak `id` is `key` (what admin paths name)."""
        if not is_key(key):
            return None
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                f"SELECT {CLIENT_READ_COLUMNS} FROM client WHERE client_id = ? AND realm = ?",
                (key, realm),
            )
        )
        return _client(found) if found is not None else None

    async def _get_clients(self, realm: str, client_ids: list[str]) -> list[ClientRow | None]:
        """Several clients of one realm in one query (PostgreSQL), in the order asked."""
        # by the unique index's first column alone: with `realm = ?` too, PostgreSQL's generic
        # plan for this prepared statement may pick the realm index and scan the whole realm
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                f"SELECT {CLIENT_READ_COLUMNS} FROM client WHERE public_client_id = ANY(?::text[])",
                (array_literal(client_ids),),
            )
        )
        found = {row[0]: _client(row) for row in rows if row[1] == realm}
        return [found.get(client_id) for client_id in client_ids]

    async def replace_client(self, update: ClientUpdate) -> bool:
        """Write `update` over its client; with a digest, only if the stored RAT is still that one
        and the client still enabled (compare-and-swap: of concurrent updates presenting one
        RAT, exactly one matches; none once an admin has disabled the client).

        Concurrent updates of one realm share a transaction (app.store.batching)."""
        return await self._client_updates.submit(update.realm, update)

    async def _replace_clients(self, realm: str, updates: list[ClientUpdate]) -> list[bool]:
        if self.dialect != "postgresql":
            async with self.db.write() as tx:  # one after another, in one transaction
                return [await tx.run(REPLACE_CLIENT, _replace_params(one)) == 1 for one in updates]
        # One statement cannot tell which of two updates of one client won, so a client's
        # second update in a batch runs after the first has committed (its CAS then fails).
        results = [False] * len(updates)
        first: dict[str, int] = {}
        again: list[int] = []
        for index, update in enumerate(updates):
            if update.client_id in first:
                again.append(index)
            else:
                first[update.client_id] = index
        changed = await self._replace_many_pg(realm, [updates[i] for i in first.values()])
        for client_id, index in first.items():
            results[index] = client_id in changed
        for index in again:
            results[index] = bool(await self._replace_many_pg(realm, [updates[index]]))
        return results

    async def _replace_many_pg(self, realm: str, updates: list[ClientUpdate]) -> set[str]:
        """Update clients of distinct ids in one statement; the ids that were changed."""
        params = (*columns_of(_replace_columns(one) for one in updates), realm)
        rows = await self.db.write_returning(REPLACE_CLIENTS_PG, params)
        return {str(row[0]) for row in rows}

    async def delete_client(
        self, realm: str, client_id: str, expected_rat_digest: str | None
    ) -> bool:
        """Delete the client; with a digest, only if the stored RAT is still that one and the
        client still enabled (a disabled client's RAT is refused, docs/reference.md §3)."""
        if not is_key(client_id):
            return False
        sql = "DELETE FROM client WHERE public_client_id = ? AND realm = ?"
        params: list[Any] = [client_id, realm]
        if expected_rat_digest is not None:
            sql += " AND rat_digest = ? AND enabled"
            params.append(expected_rat_digest)
        return await self.db.write_one(sql, params) == 1

    async def set_client_rat(self, realm: str, client_id: str, rat_digest: str, now: int) -> bool:
        """An admin's new registration access token: one statement, so of it and a client's own
        rotating update (a compare-and-swap on the old digest) the row lock orders the two and
        exactly one RAT is left valid."""
        if not is_key(client_id):
            return False
        sql = (
            "UPDATE client SET rat_digest = ?, updated_at = ? "
            "WHERE public_client_id = ? AND realm = ?"
        )
        return await self.db.write_one(sql, (rat_digest, now, client_id, realm)) == 1

    async def set_client_secret(
        self, realm: str, client_id: str, secret_sealed: str, now: int
    ) -> bool:
        """An admin's new client secret, only while the client has one (an update may have
        made it public meanwhile)."""
        if not is_key(client_id):
            return False
        sql = (
            "UPDATE client SET secret_sealed = ?, updated_at = ? "
            "WHERE public_client_id = ? AND realm = ? AND secret_sealed IS NOT NULL"
        )
        return await self.db.write_one(sql, (secret_sealed, now, client_id, realm)) == 1

    async def set_client_enabled(self, realm: str, client_id: str, enabled: bool, now: int) -> bool:
        """An admin's enable or disable; a disable also makes the client's access tokens issued
        up to `now` inactive for good (ClientRow.tokens_valid_after)."""
        if not is_key(client_id):
            return False
        if enabled:
            return await self.db.write_one(ENABLE_CLIENT, (True, now, client_id, realm)) == 1
        params = (False, now, now, now, client_id, realm)
        return await self.db.write_one(DISABLE_CLIENT, params) == 1

    async def list_clients(
        self, realm: str, first: int, limit: int, where: ClientFilter | None = None
    ) -> list[ClientRow]:
        """A page of the realm's clients, oldest first unless `where` asks for newest first."""
        conditions, params = _client_conditions(realm, where or ClientFilter())
        order = "DESC" if where is not None and where.newest_first else "ASC"
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                f"SELECT {CLIENT_READ_COLUMNS} FROM client WHERE {conditions} "
                f"ORDER BY created_at {order}, client_id {order} LIMIT ? OFFSET ?",
                (*params, limit, first),
            )
        )
        return [_client(row) for row in rows]

    async def list_clients_after(
        self,
        realm: str,
        after: tuple[int, str] | None,
        limit: int,
        where: ClientFilter | None = None,
    ) -> list[ClientRow]:
        """The next `limit` clients in creation order after (created_at, client_id): keyset
        paging, so walking a realm of a million clients costs the same per page throughout."""
        conditions, params = _client_conditions(realm, where or ClientFilter())
        if after is not None:
            conditions += " AND (created_at > ? OR (created_at = ? AND client_id > ?))"
            params = (*params, after[0], after[0], after[1])
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                f"SELECT {CLIENT_READ_COLUMNS} FROM client WHERE {conditions} "
                "ORDER BY created_at, client_id LIMIT ?",
                (*params, limit),
            )
        )
        return [_client(row) for row in rows]

    async def count_clients(self, realm: str, where: ClientFilter | None = None) -> int:
        conditions, params = _client_conditions(realm, where or ClientFilter())
        found = await self.db.read_retrying(
            lambda tx: tx.one(f"SELECT count(*) FROM client WHERE {conditions}", params)
        )
        return int(found[0]) if found else 0

    # --- initial access tokens ----------------------------------------------------------------

    async def insert_initial_access_token(
        self, row: InitialAccessTokenRow, token_digest: str
    ) -> None:
        await self.db.write_one(
            f"INSERT INTO initial_access_token ({INITIAL_ACCESS_TOKEN_COLUMNS}, token_digest) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.id, row.realm, row.created_at, row.expires_at, row.count, row.remaining,
             token_digest),
        )  # fmt: skip

    async def list_initial_access_tokens(self, realm: str) -> list[InitialAccessTokenRow]:
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                f"SELECT {INITIAL_ACCESS_TOKEN_COLUMNS} FROM initial_access_token WHERE realm = ? "
                "ORDER BY created_at, id",
                (realm,),
            )
        )
        return [InitialAccessTokenRow(*row) for row in rows]

    async def delete_initial_access_token(self, realm: str, token_id: str) -> bool:
        if not is_key(token_id):
            return False
        return (
            await self.db.write_one(
                "DELETE FROM initial_access_token WHERE id = ? AND realm = ?", (token_id, realm)
            )
            == 1
        )

    async def sweep_initial_access_tokens(self, now: int) -> int:
        """Remove expired and used-up initial access tokens; idempotent, any process may run it."""
        return await self.db.write_one(
            "DELETE FROM initial_access_token "
            "WHERE remaining <= 0 OR (expires_at IS NOT NULL AND expires_at <= ?)",
            (now,),
        )

    # --- revoked access tokens ----------------------------------------------------------------

    async def revoke_token(self, realm: str, jti: str, expires_at: int) -> None:
        """Remember an access token as ended until it expires (idempotent)."""
        if is_key(jti):
            await self.db.write_one(
                "INSERT INTO revoked_token (jti, realm, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (jti, realm, expires_at),
            )

    async def is_revoked(self, realm: str, jti: str) -> bool:
        if not is_key(jti):
            return False
        if self.dialect == "postgresql":
            return await self._revocation_reads.submit(realm, jti)
        cache = self.db.unchanged_reads()
        key = ("revoked", realm, jti)
        if cache is not None and key in cache:
            revoked: bool = cache[key]
            return revoked
        found = await self.db.read_retrying(
            lambda tx: tx.one(
                "SELECT 1 FROM revoked_token WHERE jti = ? AND realm = ?", (jti, realm)
            )
        )
        if cache is not None:
            remember(cache, key, found is not None)
        return found is not None

    async def _revoked_among(self, realm: str, jtis: list[str]) -> list[bool]:
        """Which of several token ids of one realm are revoked, in one query (PostgreSQL)."""
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                "SELECT jti FROM revoked_token WHERE jti = ANY(?::text[]) AND realm = ?",
                (array_literal(jtis), realm),
            )
        )
        revoked = {row[0] for row in rows}
        return [jti in revoked for jti in jtis]

    async def sweep_revoked_tokens(self, now: int) -> int:
        """Forget revocations of tokens that have expired anyway; idempotent."""
        return await self.db.write_one("DELETE FROM revoked_token WHERE expires_at <= ?", (now,))

    # --- rate limits ---------------------------------------------------------------------------

    async def count_hit(self, key: str, window_start: int) -> int:
        """Count one request under `key` in the window starting at `window_start` (a new window
        starts over) and return the window's count: one statement, so every process agrees."""
        rows = await self.db.write_returning(
            "INSERT INTO rate_counter (key, window_start, hits) VALUES (?, ?, 1) "
            "ON CONFLICT (key) DO UPDATE SET "
            "hits = CASE WHEN rate_counter.window_start = excluded.window_start "
            "THEN rate_counter.hits + 1 ELSE 1 END, window_start = excluded.window_start "
            "RETURNING hits",
            (key, window_start),
        )
        return int(rows[0][0]) if rows else 1

    async def sweep_rate_counters(self, before: int) -> int:
        """Forget windows that started before `before` (idempotent)."""
        return await self.db.write_one("DELETE FROM rate_counter WHERE window_start < ?", (before,))

    # --- events ----------------------------------------------------------------------------

    async def insert_events(self, rows: list[EventRow]) -> None:
        if rows:
            async with self.db.write() as tx:
                await tx.many(
                    f"INSERT INTO event ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (r.realm, r.time, r.type, r.client_id, r.user_id, r.ip_address, r.error,
                         r.details_json)
                        for r in rows
                    ],
                )  # fmt: skip

    async def list_events(self, realm: str, query: EventQuery) -> list[EventRow]:
        """The realm's events matching `query`, newest first."""
        conditions: list[str] = ["realm = ?"]
        params: list[Any] = [realm]
        if query.types:
            conditions.append(f"type IN ({', '.join('?' for _ in query.types)})")
            params += list(query.types)
        if query.client_id is not None:
            conditions.append("client_id = ?")
            params.append(query.client_id)
        if query.time_from is not None:
            conditions.append("time >= ?")
            params.append(query.time_from)
        if query.time_to is not None:
            conditions.append("time <= ?")
            params.append(query.time_to)
        where = " AND ".join(conditions)
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                f"SELECT {EVENT_COLUMNS} FROM event WHERE {where} "
                "ORDER BY time DESC, id DESC LIMIT ? OFFSET ?",
                (*params, query.limit, query.first),
            )
        )
        return [EventRow(*row) for row in rows]

    async def sweep_events(self, realm: str, before_ms: int) -> int:
        """Forget the realm's events older than `before_ms` (its retention); idempotent."""
        return await self.db.write_one(
            "DELETE FROM event WHERE realm = ? AND time < ?", (realm, before_ms)
        )

    # --- use and expiry of clients -----------------------------------------------------------

    async def record_uses(self, uses: list[tuple[str, str, int]]) -> None:
        """Note (realm, client_id, when) uses in one transaction; a later use wins."""
        if uses:
            async with self.db.write() as tx:
                await tx.many(
                    "UPDATE client SET last_used_at = ? "
                    "WHERE public_client_id = ? AND realm = ? AND last_used_at < ?",
                    [(when, client_id, realm, when) for realm, client_id, when in uses],
                )

    async def unused_clients(
        self,
        realm: str,
        before: int,
        limit: int,
        *,
        but_admin_created: bool = False,
        but_service_accounts: bool = False,
    ) -> list[ClientRow]:
        """Clients of the realm neither used nor created since `before`, oldest first; without
        those an admin registered, or those registered for client_credentials, when asked."""
        last = "CASE WHEN last_used_at > created_at THEN last_used_at ELSE created_at END"
        spared = ""
        if but_admin_created:
            spared += " AND NOT created_by_admin"
        if but_service_accounts:
            spared += f" AND NOT {self._grants_client_credentials}"
        rows = await self.db.read_retrying(
            lambda tx: tx.all(
                f"SELECT {CLIENT_READ_COLUMNS} FROM client WHERE realm = ? AND {last} < ?"
                f"{spared} ORDER BY created_at LIMIT ?",
                (realm, before, limit),
            )
        )
        return [_client(row) for row in rows]

    @property
    def _grants_client_credentials(self) -> str:
        """SQL: the client's registered grant_types include client_credentials (a service
        account, in Keycloak's words)."""
        if self.dialect == "postgresql":
            return (
                "coalesce(jsonb_exists(metadata_json::jsonb -> 'grant_types', "
                "'client_credentials'), false)"
            )
        return (
            "EXISTS (SELECT 1 FROM json_each(metadata_json, '$.grant_types') "
            "WHERE value = 'client_credentials')"
        )

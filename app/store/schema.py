"""The tables (SQLModel), created at start on SQLite and PostgreSQL alike.

Table models are kept apart from the row dataclasses of app.store.queries, so a hash or a sealed
secret never reaches a response by accident. Times are epoch seconds (Keycloak's unit).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Engine, Index, inspect, text
from sqlmodel import Field, SQLModel

# client ids are UUIDs, or metadata documents' URLs of up to this many characters
CLIENT_ID_LENGTH = 255


class Client(SQLModel, table=True):
    __tablename__ = "client"
    __table_args__ = (
        Index("ix_client_realm_created", "realm", "created_at", "client_id"),
        # a clientId is unique in its realm, under any number of racing registrations
        Index("ux_client_public_id", "public_client_id", "realm", unique=True),
        # a person's "My clients", in listing order, without walking the whole realm; partial,
        # so the clients registered by RFC 7591 alone (most rows) do not pay for it
        Index(
            "ix_client_registered_by",
            "realm",
            "registered_by",
            "created_at",
            "client_id",
            sqlite_where=text("registered_by IS NOT NULL"),
            postgresql_where=text("registered_by IS NOT NULL"),
        ),
    )

    # Keycloak's `id`: the row's key, what admin paths name (equals public_client_id unless
    # the caller chose its clientId); a UUID, or the URL of a client's metadata document
    # (docs/reference.md §7)
    client_id: str = Field(primary_key=True, max_length=CLIENT_ID_LENGTH)
    # Keycloak's `clientId`: what the client presents (OAuth's client_id), unique in its realm;
    # server-made (then equal to client_id) or chosen by the caller (…/default provider)
    public_client_id: str | None = Field(default=None, max_length=CLIENT_ID_LENGTH)
    realm: str = Field(max_length=64)
    metadata_json: str
    secret_sealed: str | None = None  # AES-GCM, key outside the database (docs/reference.md §4)
    rat_digest: str = Field(max_length=64)  # SHA-256 of the registration access token
    registration_auth: str = Field(max_length=16)
    enabled: bool = True
    consent_required: bool = False
    full_scope_allowed: bool = True
    created_at: int
    updated_at: int
    # an admin's disable: the client's access tokens issued up to this second stay inactive
    tokens_valid_after: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # the last token issued, registration read or update (epoch seconds; 0: never used)
    last_used_at: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # registered by a bearer holding manage-clients: client_expiry may spare it
    created_by_admin: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    # the signed-in person whose access token (or console session) registered it
    registered_by: str | None = Field(default=None, max_length=200)


class RegistrationDigest(SQLModel, table=True):
    """The client an anonymous registration of one metadata from one address made, and when
    that metadata was last registered from there (a realm's `deduplicate` option)."""

    __tablename__ = "registration_digest"
    __table_args__ = (Index("ix_registration_digest_time", "realm", "registered_at"),)

    realm: str = Field(primary_key=True, max_length=64)
    digest: str = Field(primary_key=True, max_length=64)  # SHA-256 of address and metadata
    client_id: str = Field(max_length=64)
    registered_at: int


class InitialAccessToken(SQLModel, table=True):
    __tablename__ = "initial_access_token"

    id: str = Field(primary_key=True, max_length=64)
    realm: str = Field(index=True, max_length=64)
    token_digest: str = Field(max_length=64)  # SHA-256 of the token; the token is never stored
    created_at: int
    expires_at: int | None = None
    count: int
    remaining: int


class RealmKey(SQLModel, table=True):
    """A realm's signing keys, sealed with the at-rest key."""

    __tablename__ = "realm_key"

    realm: str = Field(primary_key=True, max_length=64)
    sealed: str
    created_at: int


class RevokedToken(SQLModel, table=True):
    """An access token ended before its expiry (a console sign-out), kept until it expires."""

    __tablename__ = "revoked_token"

    jti: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    expires_at: int = Field(index=True)


class RateCounter(SQLModel, table=True):
    """Requests of one rate limit's key in its current window, shared by every process."""

    __tablename__ = "rate_counter"

    key: str = Field(primary_key=True, max_length=64)  # SHA-256 of realm, limit and subject
    window_start: int = Field(index=True)
    hits: int


class Event(SQLModel, table=True):
    """What happened to a realm's clients, under Keycloak's event names; never a secret."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_realm_time", "realm", "time"),)

    id: int | None = Field(default=None, primary_key=True)
    realm: str = Field(max_length=64)
    # epoch milliseconds, as Keycloak's: past 2^31, so a BIGINT on PostgreSQL
    time: int = Field(sa_type=BigInteger)
    type: str = Field(max_length=40)
    client_id: str | None = Field(default=None, max_length=CLIENT_ID_LENGTH)
    user_id: str | None = Field(default=None, max_length=255)
    ip_address: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=64)
    details_json: str | None = None


class SigninSession(SQLModel, table=True):
    """A user's sign-in session at a realm (the cookie holds the id; this, its SHA-256)."""

    __tablename__ = "signin_session"

    id_digest: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    username: str = Field(max_length=200)
    auth_time: int
    expires_at: int = Field(index=True)


class SigninConsent(SQLModel, table=True):
    """The scopes a user granted a client (space-separated), remembered for the next sign-in."""

    __tablename__ = "signin_consent"

    realm: str = Field(primary_key=True, max_length=64)
    username: str = Field(primary_key=True, max_length=200)
    client_id: str = Field(primary_key=True, max_length=CLIENT_ID_LENGTH)
    scope: str


class AuthorizationCode(SQLModel, table=True):
    """An authorization code (RFC 6749 §4.1.2), by its SHA-256; kept past its use so a second
    use is recognised and revokes the grant family the first one started."""

    __tablename__ = "authorization_code"

    code_digest: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    client_id: str = Field(max_length=CLIENT_ID_LENGTH)
    redirect_uri: str
    code_challenge: str | None = None
    scope: str
    nonce: str | None = None
    resource_json: str  # the RFC 8707 resource values, a JSON list
    username: str = Field(max_length=200)
    auth_time: int
    expires_at: int = Field(index=True)
    used_at: int = 0  # 0: not yet redeemed
    family_id: str | None = Field(default=None, max_length=64)  # set by the redemption


class GrantFamily(SQLModel, table=True):
    """Everything one authorization code led to: its refresh tokens and access tokens (`sid`)."""

    __tablename__ = "grant_family"

    family_id: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    client_id: str = Field(max_length=CLIENT_ID_LENGTH)
    username: str = Field(max_length=200)
    revoked: bool = False
    expires_at: int = Field(index=True)  # after its last refresh token's expiry
    # the sign-in it came from (the session's auth_time): ending that session revokes it
    auth_time: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class RefreshToken(SQLModel, table=True):
    """A refresh token by its SHA-256; `rotated` once it was exchanged (RFC 9700 §4.14.2)."""

    __tablename__ = "refresh_token"

    token_digest: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    family_id: str = Field(index=True, max_length=64)
    client_id: str = Field(max_length=CLIENT_ID_LENGTH)
    username: str = Field(max_length=200)
    scope: str
    resource_json: str
    auth_time: int
    expires_at: int = Field(index=True)
    rotated: bool = False


class BrokerLogin(SQLModel, table=True):
    """A sign-in at the upstream provider under way: by the SHA-256 of its `state`, bound to
    the browser that started it by the SHA-256 of a cookie value; taken once at the callback."""

    __tablename__ = "broker_login"

    state_digest: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    alias: str = Field(max_length=64)
    browser_digest: str = Field(max_length=64)
    nonce: str = Field(max_length=100)
    verifier_sealed: str  # the PKCE code_verifier sent to the upstream, sealed at rest
    request_text: str  # the authorization request it continues, form-encoded
    expires_at: int = Field(index=True)


class BrokeredUser(SQLModel, table=True):
    """A user who signed in at the realm's upstream provider; `sub` is derived from the
    upstream's issuer and subject, so it stays the same at every sign-in."""

    __tablename__ = "brokered_user"

    realm: str = Field(primary_key=True, max_length=64)
    sub: str = Field(primary_key=True, max_length=200)
    alias: str = Field(max_length=64)
    upstream_issuer: str
    upstream_sub: str = Field(max_length=255)
    username: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=200)
    created_at: int
    last_login_at: int


class ClientDocument(SQLModel, table=True):
    """When a metadata document client's document was fetched and is to be fetched again; its
    metadata is the client row's (docs/reference.md §7). Shared by every process."""

    __tablename__ = "client_document"

    client_id: str = Field(primary_key=True, max_length=CLIENT_ID_LENGTH)  # the document's URL
    realm: str = Field(max_length=64)
    fetched_at: int
    refresh_at: int  # the next sight after this fetches it again
    expires_at: int  # a refetch that fails serves the stored copy until this


class UsedClientAssertion(SQLModel, table=True):
    """A client assertion's `jti`, kept until the assertion expires: a second use is a replay
    (RFC 7523 §3 item 7). The primary key makes exactly one of racing uses win."""

    __tablename__ = "used_client_assertion"

    key: str = Field(primary_key=True, max_length=64)  # SHA-256 of realm, client id and jti
    expires_at: int = Field(index=True)


class MetaValue(SQLModel, table=True):
    __tablename__ = "registrar_meta"

    name: str = Field(primary_key=True, max_length=64)
    value: str


TABLES = SQLModel.metadata

# Columns added after their table was first released, as (table, column, type and default).
# create_all makes missing tables but never alters an existing one, so a database made by an
# earlier version gets these at start (add_missing_columns). The default fills existing rows.
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("client", "tokens_valid_after", "INTEGER NOT NULL DEFAULT 0"),
    ("client", "last_used_at", "INTEGER NOT NULL DEFAULT 0"),
    ("client", "public_client_id", "VARCHAR(255)"),
    ("client", "created_by_admin", "BOOLEAN NOT NULL DEFAULT false"),
    ("client", "registered_by", "VARCHAR(200)"),
    ("grant_family", "auth_time", "INTEGER NOT NULL DEFAULT 0"),
)
# Run after the columns are added, each idempotent: the clients made before public_client_id
# existed have the clientId they were made with, and the unique index create_all makes only
# with a new table
AFTER_ADDED_COLUMNS: tuple[str, ...] = (
    "UPDATE client SET public_client_id = client_id WHERE public_client_id IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_client_public_id ON client (public_client_id, realm)",
)


# Indexes of the client table added after it was first released: create_all makes an index
# only with a new table, so a database made by an earlier version gets these at start
# (add_missing_indexes)
ADDED_INDEXES: tuple[str, ...] = ("ix_client_registered_by",)


def add_missing_indexes(engine: Engine) -> None:
    """Create the ADDED_INDEXES the client table lacks; idempotent, and a look at the catalog
    when none is missing. Safe when several processes start at once: on SQLite the caller holds
    the writer lock; on PostgreSQL an advisory lock makes the others wait, then find it made
    (two racing CREATE INDEX IF NOT EXISTS may both try to create it)."""
    present = {index["name"] for index in inspect(engine).get_indexes("client")}
    missing = [
        index
        for index in Client.__table__.indexes  # type: ignore[attr-defined]
        if index.name in ADDED_INDEXES and index.name not in present
    ]
    if not missing:
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('registrar-schema'))"))
        for index in missing:
            index.create(conn, checkfirst=True)


# Columns made wider since first released: (table, column, characters). PostgreSQL enforces a
# VARCHAR's length, so an older database gets the new one at start (SQLite enforces none).
WIDENED_COLUMNS: tuple[tuple[str, str, int], ...] = tuple(
    (table, "client_id", CLIENT_ID_LENGTH)
    for table in (
        "client",
        "signin_consent",
        "authorization_code",
        "grant_family",
        "refresh_token",
        "event",
    )
)


def add_missing_columns(engine: Engine) -> None:
    """Add the ADDED_COLUMNS a table lacks; idempotent.

    Safe when several processes start at once: on SQLite the caller holds the writer lock, so
    one process alters and the others then find the column; on PostgreSQL `ADD COLUMN IF NOT
    EXISTS` looks for the column under the table's lock, so a second ALTER does nothing."""
    added = False
    for table, column, definition in ADDED_COLUMNS:
        if column in {found["name"] for found in inspect(engine).get_columns(table)}:
            continue
        guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {guard}{column} {definition}"))
        added = True
    if added:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # two processes' CREATE INDEX IF NOT EXISTS may otherwise both try to create it
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('registrar-schema'))"))
            for statement in AFTER_ADDED_COLUMNS:
                conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        _widen_columns(engine)
        # an event table made when `time` was an INTEGER, which milliseconds overflow; a second
        # process's ALTER to the type the column already has changes nothing
        found = {c["name"]: c["type"] for c in inspect(engine).get_columns("event")}
        if not isinstance(found.get("time"), BigInteger):
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE event ALTER COLUMN time TYPE BIGINT"))


def _widen_columns(engine: Engine) -> None:
    """Give WIDENED_COLUMNS their length where an older database has a shorter one; a longer
    VARCHAR is a change of the catalogue only, no table is rewritten."""
    for table, column, length in WIDENED_COLUMNS:
        found = {c["name"]: c for c in inspect(engine).get_columns(table)}.get(column)
        current = getattr(found["type"], "length", None) if found else None
        if current is None or current >= length:
            continue
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR({length})"))

"""The tables (SQLModel), created at start on SQLite and PostgreSQL alike.

Table models are kept apart from the row dataclasses of app.store.queries, so a hash or a sealed
secret never reaches a response by accident. Times are epoch seconds (Keycloak's unit).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Engine, Index, inspect, text
from sqlmodel import Field, SQLModel


class Client(SQLModel, table=True):
    __tablename__ = "client"
    __table_args__ = (Index("ix_client_realm_created", "realm", "created_at", "client_id"),)

    client_id: str = Field(primary_key=True, max_length=64)
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
    # the signed-in person whose access token (or console session) registered it
    registered_by: str | None = Field(default=None, max_length=200)


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
    client_id: str | None = Field(default=None, max_length=64)
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
    client_id: str = Field(primary_key=True, max_length=64)
    scope: str


class AuthorizationCode(SQLModel, table=True):
    """An authorization code (RFC 6749 §4.1.2), by its SHA-256; kept past its use so a second
    use is recognised and revokes the grant family the first one started."""

    __tablename__ = "authorization_code"

    code_digest: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    client_id: str = Field(max_length=64)
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
    client_id: str = Field(max_length=64)
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
    client_id: str = Field(max_length=64)
    username: str = Field(max_length=200)
    scope: str
    resource_json: str
    auth_time: int
    expires_at: int = Field(index=True)
    rotated: bool = False


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
    ("client", "registered_by", "VARCHAR(200)"),
    ("grant_family", "auth_time", "INTEGER NOT NULL DEFAULT 0"),
)


def add_missing_columns(engine: Engine) -> None:
    """Add the ADDED_COLUMNS a table lacks; idempotent.

    Safe when several processes start at once: on SQLite the caller holds the writer lock, so
    one process alters and the others then find the column; on PostgreSQL `ADD COLUMN IF NOT
    EXISTS` looks for the column under the table's lock, so a second ALTER does nothing."""
    for table, column, definition in ADDED_COLUMNS:
        if column in {found["name"] for found in inspect(engine).get_columns(table)}:
            continue
        guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {guard}{column} {definition}"))
    if engine.dialect.name == "postgresql":
        # an event table made when `time` was an INTEGER, which milliseconds overflow; a second
        # process's ALTER to the type the column already has changes nothing
        found = {c["name"]: c["type"] for c in inspect(engine).get_columns("event")}
        if not isinstance(found.get("time"), BigInteger):
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE event ALTER COLUMN time TYPE BIGINT"))

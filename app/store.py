"""Storage: SQLModel tables and every query. Guarantees (CONTRACT §4) live in SQL, not in locks.

- An initial access token is spent by a conditional UPDATE in the same transaction as the insert.
- `max-clients` is a conditional UPDATE of a per-realm counter, also in that transaction.
- RAT rotation and DELETE are compare-and-swap on the stored token digest.
SQLite runs in WAL mode and every write transaction starts with BEGIN IMMEDIATE, so writers
queue on the database lock instead of failing on upgrade; PostgreSQL runs READ COMMITTED and
the row locks of the conditional UPDATEs serialise the racers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Field, SQLModel

from app.errors import ServiceUnavailable

P = ParamSpec("P")
R = TypeVar("R")


class Client(SQLModel, table=True):
    __tablename__ = "client"

    client_id: str = Field(primary_key=True, max_length=64)
    realm: str = Field(index=True, max_length=64)
    metadata_json: str
    secret_sealed: str | None = None
    rat_digest: str = Field(max_length=64)
    registration_auth: str = Field(max_length=16)
    enabled: bool = True
    consent_required: bool = False
    full_scope_allowed: bool = True
    created_at: int
    updated_at: int


class RealmCounter(SQLModel, table=True):
    """Clients per realm, kept in step with inserts and deletes so max-clients is one UPDATE."""

    __tablename__ = "realm_counter"

    realm: str = Field(primary_key=True, max_length=64)
    clients: int = 0


class InitialAccessToken(SQLModel, table=True):
    __tablename__ = "initial_access_token"

    id: str = Field(primary_key=True, max_length=64)
    realm: str = Field(index=True, max_length=64)
    token_digest: str = Field(max_length=64)
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


class MetaValue(SQLModel, table=True):
    __tablename__ = "registrar_meta"

    name: str = Field(primary_key=True, max_length=64)
    value: str


@dataclass(frozen=True)
class ClientRow:
    client_id: str
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


@dataclass(frozen=True)
class IatRow:
    id: str
    realm: str
    created_at: int
    expires_at: int | None
    count: int
    remaining: int


class SpendFailed(Exception):
    """The initial access token is used up, expired or gone."""


class RealmFull(Exception):
    """max-clients reached."""


def unavailable_on_db_error(fn: Callable[P, R]) -> Callable[P, R]:
    """A lost or refused database connection becomes 503, never a 500."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            raise ServiceUnavailable("The database is not available; retry shortly") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise ServiceUnavailable("The database connection was lost; retry") from exc
            raise

    return wrapper


_CLIENT_COLUMNS = tuple(Client.__table__.c)  # type: ignore[attr-defined]


def _client_row(row: Any) -> ClientRow:
    return ClientRow(*row)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        return _sqlite_engine(url)
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=5)


def _sqlite_engine(url: str) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # autocommit at the driver level: we issue BEGIN ourselves (see _on_begin)
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (only power loss may drop the last
        # commits); FULL would fsync every commit. CONTRACT §4 is about killing the server.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN, so two writers never deadlock on upgrade
        mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Store:
    """Every query of the service; methods are synchronous (run them in a thread pool)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(readonly=True)
            with conn.begin():
                yield conn

    def create_schema(self) -> None:
        """Create missing tables; several processes starting at once may all call it."""
        try:
            SQLModel.metadata.create_all(self.engine)
        except DBAPIError:
            # another process created the same table between our check and our CREATE
            SQLModel.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    @unavailable_on_db_error
    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    # --- meta and keys -------------------------------------------------------------------

    def _insert_ignore(self, table: Any, values: dict[str, Any]) -> Any:
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        return dialect.insert(table).values(**values).on_conflict_do_nothing()

    @unavailable_on_db_error
    def get_or_put_meta(self, name: str, value: str) -> str:
        """The stored value for `name`, storing `value` first if there is none."""
        with self._write() as conn:
            conn.execute(self._insert_ignore(MetaValue, {"name": name, "value": value}))
            stored = conn.execute(select(MetaValue.value).where(MetaValue.name == name))
            return str(stored.scalar_one())

    @unavailable_on_db_error
    def get_or_put_realm_key(self, realm: str, make_sealed: Callable[[], str], now: int) -> str:
        """The sealed keys of a realm; the first process to ask creates them."""
        with self._read() as conn:
            found = conn.execute(select(RealmKey.sealed).where(RealmKey.realm == realm))
            sealed = found.scalar_one_or_none()
        if sealed is not None:
            return str(sealed)
        values = {"realm": realm, "sealed": make_sealed(), "created_at": now}
        with self._write() as conn:
            conn.execute(self._insert_ignore(RealmKey, values))
            found = conn.execute(select(RealmKey.sealed).where(RealmKey.realm == realm))
            return str(found.scalar_one())

    # --- clients ---------------------------------------------------------------------------

    @unavailable_on_db_error
    def insert_client(
        self,
        row: ClientRow,
        iat: tuple[str, str] | None,
        max_clients: int | None,
        now: int,
    ) -> None:
        """Insert a client, spending one use of `iat` (id, digest) and respecting max_clients."""
        with self._write() as conn:
            if iat is not None and not self._spend_iat(conn, row.realm, iat, now):
                raise SpendFailed()
            if not self._count_in(conn, row.realm, max_clients):
                raise RealmFull()
            conn.execute(insert(Client).values(**row.__dict__))

    def _spend_iat(self, conn: Connection, realm: str, iat: tuple[str, str], now: int) -> bool:
        """Take one use; of N racing callers at most `remaining` win (the row lock decides)."""
        spent = conn.execute(
            update(InitialAccessToken)
            .where(
                InitialAccessToken.id == iat[0],  # type: ignore[arg-type]
                InitialAccessToken.realm == realm,  # type: ignore[arg-type]
                InitialAccessToken.token_digest == iat[1],  # type: ignore[arg-type]
                InitialAccessToken.remaining > 0,  # type: ignore[arg-type]
                (InitialAccessToken.expires_at.is_(None))  # type: ignore[union-attr]
                | (InitialAccessToken.expires_at > now),  # type: ignore[operator]
            )
            .values(remaining=InitialAccessToken.remaining - 1)
        )
        return spent.rowcount == 1

    def _count_in(self, conn: Connection, realm: str, max_clients: int | None) -> bool:
        """Add one to the realm's client count unless that would pass max_clients."""
        conn.execute(self._insert_ignore(RealmCounter, {"realm": realm, "clients": 0}))
        stmt = update(RealmCounter).where(RealmCounter.realm == realm)  # type: ignore[arg-type]
        if max_clients is not None:
            stmt = stmt.where(RealmCounter.clients < max_clients)  # type: ignore[arg-type]
        return conn.execute(stmt.values(clients=RealmCounter.clients + 1)).rowcount == 1

    @unavailable_on_db_error
    def get_client(self, realm: str, client_id: str) -> ClientRow | None:
        with self._read() as conn:
            found = conn.execute(
                select(*_CLIENT_COLUMNS).where(
                    Client.client_id == client_id,  # type: ignore[arg-type]
                    Client.realm == realm,  # type: ignore[arg-type]
                )
            ).first()
        return _client_row(found) if found is not None else None

    @unavailable_on_db_error
    def replace_client(self, row: ClientRow, expected_rat_digest: str | None) -> bool:
        """Store `row` over the client; with a digest, only if the stored RAT is still that one."""
        stmt = update(Client).where(
            Client.client_id == row.client_id,  # type: ignore[arg-type]
            Client.realm == row.realm,  # type: ignore[arg-type]
        )
        if expected_rat_digest is not None:
            stmt = stmt.where(Client.rat_digest == expected_rat_digest)  # type: ignore[arg-type]
        values = {k: v for k, v in row.__dict__.items() if k not in ("client_id", "realm")}
        values.pop("created_at")
        with self._write() as conn:
            return conn.execute(stmt.values(**values)).rowcount == 1

    @unavailable_on_db_error
    def delete_client(self, realm: str, client_id: str, expected_rat_digest: str | None) -> bool:
        stmt = delete(Client).where(
            Client.client_id == client_id,  # type: ignore[arg-type]
            Client.realm == realm,  # type: ignore[arg-type]
        )
        if expected_rat_digest is not None:
            stmt = stmt.where(Client.rat_digest == expected_rat_digest)  # type: ignore[arg-type]
        with self._write() as conn:
            if conn.execute(stmt).rowcount != 1:
                return False
            conn.execute(
                update(RealmCounter)
                .where(RealmCounter.realm == realm)  # type: ignore[arg-type]
                .values(clients=RealmCounter.clients - 1)
            )
            return True

    @unavailable_on_db_error
    def set_client_enabled(self, realm: str, client_id: str, enabled: bool, now: int) -> bool:
        with self._write() as conn:
            changed = conn.execute(
                update(Client)
                .where(
                    Client.client_id == client_id,  # type: ignore[arg-type]
                    Client.realm == realm,  # type: ignore[arg-type]
                )
                .values(enabled=enabled, updated_at=now)
            )
            return changed.rowcount == 1

    @unavailable_on_db_error
    def list_clients(self, realm: str, first: int, limit: int) -> list[ClientRow]:
        with self._read() as conn:
            rows = conn.execute(
                select(*_CLIENT_COLUMNS)
                .where(Client.realm == realm)  # type: ignore[arg-type]
                .order_by(Client.created_at, Client.client_id)  # type: ignore[arg-type]
                .offset(first)
                .limit(limit)
            ).all()
        return [_client_row(row) for row in rows]

    @unavailable_on_db_error
    def count_clients(self, realm: str) -> int:
        with self._read() as conn:
            found = conn.execute(
                select(func.count()).select_from(Client).where(Client.realm == realm)  # type: ignore[arg-type]
            )
            return int(found.scalar_one())

    # --- initial access tokens -------------------------------------------------------------

    @unavailable_on_db_error
    def insert_iat(self, row: IatRow, token_digest: str) -> None:
        with self._write() as conn:
            conn.execute(insert(InitialAccessToken).values(token_digest=token_digest, **row.__dict__))

    @unavailable_on_db_error
    def list_iats(self, realm: str) -> list[IatRow]:
        t = InitialAccessToken
        with self._read() as conn:
            rows = conn.execute(
                select(t.id, t.realm, t.created_at, t.expires_at, t.count, t.remaining)
                .where(t.realm == realm)  # type: ignore[arg-type]
                .order_by(t.created_at, t.id)  # type: ignore[arg-type]
            ).all()
        return [IatRow(*row) for row in rows]

    @unavailable_on_db_error
    def delete_iat(self, realm: str, iat_id: str) -> bool:
        t = InitialAccessToken
        with self._write() as conn:
            gone = conn.execute(delete(t).where(t.id == iat_id, t.realm == realm))  # type: ignore[arg-type]
            return gone.rowcount == 1

    @unavailable_on_db_error
    def sweep_iats(self, now: int) -> int:
        """Remove expired and used-up initial access tokens; idempotent, any process may run it."""
        t = InitialAccessToken
        with self._write() as conn:
            gone = conn.execute(
                delete(t).where(
                    (t.remaining <= 0)  # type: ignore[operator]
                    | (t.expires_at.is_not(None) & (t.expires_at <= now))  # type: ignore[union-attr,operator]
                )
            )
            return int(gone.rowcount)

"""Connections and transactions on SQLite (embedded) and PostgreSQL, with plain DB-API cursors.

The hot path speaks SQL through the driver directly: an ORM round trip costs more than the whole
rest of a registration. SQLAlchemy creates the schema (app.schema) and pools PostgreSQL
connections. A lost or refused database becomes ServiceUnavailable (503), never a 500.

SQLite: WAL, one connection per thread, writes in BEGIN IMMEDIATE under WriterLock. PostgreSQL:
READ COMMITTED; the row locks taken by conditional UPDATEs serialise racing writers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg
from sqlalchemy import create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError

from app.errors import ServiceUnavailable
from app.schema import METADATA

Params = Sequence[Any]
T = TypeVar("T")


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Params = ..., /) -> Any: ...
    def executemany(self, sql: str, rows: Sequence[Params], /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Tx:
    """One transaction's statements; SQL is written with `?` placeholders."""

    def __init__(self, cursor: Cursor, placeholder: str) -> None:
        self._cursor = cursor
        self._placeholder = placeholder

    def _sql(self, sql: str) -> str:
        return sql if self._placeholder == "?" else _to_format_style(sql)

    def run(self, sql: str, params: Params = ()) -> int:
        """Execute a statement; return the number of rows it changed."""
        self._cursor.execute(self._sql(sql), params)
        return int(self._cursor.rowcount)

    def many(self, sql: str, rows: Sequence[Params]) -> None:
        self._cursor.executemany(self._sql(sql), rows)

    def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        self._cursor.execute(self._sql(sql), params)
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._sql(sql), params)
        return [tuple(row) for row in self._cursor.fetchall()]


_FORMAT_CACHE: dict[str, str] = {}


def _to_format_style(sql: str) -> str:
    converted = _FORMAT_CACHE.get(sql)
    if converted is None:
        converted = sql.replace("%", "%%").replace("?", "%s")
        _FORMAT_CACHE[sql] = converted
    return converted


class Database(Protocol):
    dialect: str

    def write(self) -> contextlib.AbstractContextManager[Tx]: ...
    def write_one(self, sql: str, params: Params = ...) -> int: ...
    def read(self) -> contextlib.AbstractContextManager[Tx]: ...
    def read_retrying(self, query: Callable[[Tx], T]) -> T: ...
    def create_schema(self) -> None: ...
    def dispose(self) -> None: ...


def open_database(url: str) -> Database:
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"))
    return PostgresDatabase(url)


class WriterLock:
    """One SQLite writer at a time across threads and processes, handed over at once.

    SQLite's busy handler polls with sleeps of up to 100 ms, which shows as a p99 of hundreds
    of milliseconds when two processes write; a blocking flock() on a file beside the database
    wakes the next writer as soon as the lock is released.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer = WriterLock(Path(path + ".writer-lock"))

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # autocommit at the driver level: transactions are begun explicitly below
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (only a power loss may drop the
            # last commits) without an fsync per commit; CONTRACT §4 is about killed servers.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        with _sqlite_errors(), self._writer:
            conn = self._connection()
            cursor = conn.cursor()
            # IMMEDIATE takes the write lock at BEGIN, so writers never deadlock on upgrade
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(cursor, "?")
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def write_one(self, sql: str, params: Params = ()) -> int:
        """One statement, atomic on its own (autocommit), under the writer lock."""
        with _sqlite_errors(), self._writer:
            return Tx(self._connection().cursor(), "?").run(sql, params)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        with _sqlite_errors():
            yield Tx(self._connection().cursor(), "?")

    def read_retrying(self, query: Callable[[Tx], T]) -> T:
        with self.read() as tx:
            return query(tx)

    def create_schema(self) -> None:
        engine = create_engine(f"sqlite:///{self.path}")
        try:
            with WriterLock(Path(self.path + ".writer-lock")):
                METADATA.create_all(engine)
        finally:
            engine.dispose()
        self._connection()

    def dispose(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        self._writer.close()


@contextlib.contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise ServiceUnavailable("The database is busy or unavailable; retry shortly") from exc


class PostgresDatabase:
    """Connections in autocommit mode: a read or a one-statement write is one round trip, and
    only multi-statement writes pay for BEGIN and COMMIT.

    Connections are not pinged before use (a round trip per request); when one turns out to
    be dead, the whole pool is replaced (a restart or failover kills them all) and a read is
    retried once on a fresh connection. A write is never retried: it may have been applied.
    """

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url, pool_size=24, max_overflow=16, pool_timeout=5)
        event.listen(self._engine, "connect", _autocommit)

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        with self._connection() as conn, conn.driver_connection.transaction():
            yield Tx(conn.cursor(), "%s")

    def write_one(self, sql: str, params: Params = ()) -> int:
        with self._connection() as conn:
            return Tx(conn.cursor(), "%s").run(sql, params)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        with self._connection() as conn:
            yield Tx(conn.cursor(), "%s")

    def read_retrying(self, query: Callable[[Tx], T]) -> T:
        try:
            with self.read() as tx:
                return query(tx)
        except ConnectionLost:
            with self.read() as tx:
                return query(tx)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        try:
            conn = self._engine.raw_connection()
        except (OperationalError, DBAPIError, psycopg.OperationalError) as exc:
            # refused, unreachable, or not accepting connections
            raise ServiceUnavailable("The database is not available; retry shortly") from exc
        try:
            yield conn
        except psycopg.OperationalError as exc:
            conn.invalidate()  # a broken connection must not go back to the pool
            self._engine.dispose()  # nor its siblings: a dead server killed them all
            raise ConnectionLost("The database connection was lost; retry") from exc
        finally:
            conn.close()

    def create_schema(self) -> None:
        try:
            METADATA.create_all(self._engine)
        except DBAPIError:
            # another process created the same table between our check and our CREATE
            METADATA.create_all(self._engine)

    def dispose(self) -> None:
        self._engine.dispose()


class ConnectionLost(ServiceUnavailable):
    """A pooled connection died under a statement."""


def _autocommit(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.autocommit = True

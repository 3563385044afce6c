"""Connections and transactions on SQLite (embedded) and PostgreSQL, with plain DB-API cursors.

The hot path speaks SQL through the driver directly: an ORM round trip costs more than the whole
rest of a registration. SQLAlchemy creates the schema, and adds the columns of later versions
(app.store.schema). A lost or refused database becomes DatabaseUnavailable (a 503 at the web
layer), never a 500.

Every statement is awaited, so one store serves both databases from the event loop:
- SQLite is embedded and a statement takes microseconds, so it runs inline (a hop to a worker
  thread would cost more than the statement). WAL, one connection per thread, writes in
  BEGIN IMMEDIATE under WriterLock.
- PostgreSQL runs on psycopg's asyncio connections (app.store.pg_pool): no thread hop, and a slow
  or hung server holds only the requests waiting on it, never the event loop. READ COMMITTED;
  the row locks taken by conditional UPDATEs serialise racing writers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.metrics import DB_CONNECTIONS_OPEN
from app.store.errors import ConnectionLost, DatabaseUnavailable
from app.store.pg_pool import PgPool, shown_url, why_not
from app.store.schema import TABLES, add_missing_columns, add_missing_indexes
from app.store.wal_checkpoints import BACKSTOP_PAGES, WalCheckpointer

Params = Sequence[Any]
T = TypeVar("T")


class Tx(Protocol):
    """One transaction's statements (or one autocommitted statement); SQL uses `?` placeholders."""

    async def run(self, sql: str, params: Params = ()) -> int:
        """Execute a statement; return the number of rows it changed."""
        ...

    async def many(self, sql: str, rows: Sequence[Params]) -> None: ...
    async def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None: ...
    async def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...


class Database(Protocol):
    dialect: str

    def write(self) -> contextlib.AbstractAsyncContextManager[Tx]: ...
    def unchanged_reads(self) -> dict[Any, Any] | None: ...
    async def write_one(self, sql: str, params: Params = ...) -> int: ...
    async def write_returning(self, sql: str, params: Params = ...) -> list[tuple[Any, ...]]: ...
    def read(self) -> contextlib.AbstractAsyncContextManager[Tx]: ...
    async def read_retrying(self, query: Callable[[Tx], Awaitable[T]]) -> T: ...
    def create_schema(self) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def open_database(url: str, pool_size: int = 24, create: bool = True) -> Database:
    """The database at `url`; with create false, an SQLite file must exist already (a command
    that only reads must not leave an empty database behind in the wrong directory)."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///"), create)
    return PostgresDatabase(url, max_size=pool_size)


# --- SQLite -------------------------------------------------------------------------------------


class SqliteTx:
    """Statements on a sqlite3 cursor, run inline: they are awaited only to share the interface."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def run(self, sql: str, params: Params = ()) -> int:
        self._cursor.execute(sql, params)
        return int(self._cursor.rowcount)

    async def many(self, sql: str, rows: Sequence[Params]) -> None:
        self._cursor.executemany(sql, rows)

    async def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        self._cursor.execute(sql, params)
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None

    async def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql, params)
        return [tuple(row) for row in self._cursor.fetchall()]


class WriterLock:
    """One SQLite writer at a time across threads and processes, handed over at once.

    SQLite's busy handler polls with sleeps of up to 100 ms, which shows as a p99 of hundreds
    of milliseconds when two processes write; a blocking flock() on a file beside the database
    wakes the next writer as soon as the lock is released. Held only for one short transaction.
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

    def __init__(self, path: str, create: bool = True) -> None:
        self.path = path
        if path != ":memory:" and not create and not Path(path).exists():
            raise DatabaseUnavailable(
                "The database is not available",
                f"no SQLite database at {Path(path).resolve()}: run this where the server "
                "runs, or give its --database-url",
            )
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._writer = WriterLock(Path(path + ".writer-lock"))
        # the log is copied back off the serving loop (app/store/wal_checkpoints.py)
        self._checkpoints = WalCheckpointer(path, self._writer) if path != ":memory:" else None

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            _create_owner_only(self.path)
            # autocommit at the driver level: transactions are begun explicitly below
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (only a power loss may drop the
            # last commits) without an fsync per commit; docs/reference.md §4 is about killed
            # servers.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            if self._checkpoints is not None and self._checkpoints.running:
                conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
            self._local.conn = conn
            self._local.own_commits = 0
            self._local.cache = {}
            self._local.cache_stamp = None
            with self._all_lock:
                self._all.append(conn)
            # statements run inline on the serving loop, so none is ever in use while /metrics
            # is read: only the connections open (one per thread) are shown
            DB_CONNECTIONS_OPEN.labels("sqlite").inc()
        return conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        # The body must not await anything but this Tx's statements (which run inline): the
        # writer lock is held by this thread, so another task of the same loop asking for it
        # would block the loop.
        with _SQLITE_ERRORS, self._writer:
            conn = self._connection()
            cursor = conn.cursor()
            # IMMEDIATE takes the write lock at BEGIN, so writers never deadlock on upgrade
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTx(cursor)
            except BaseException:
                conn.rollback()
                raise
            finally:
                self._wrote()
            conn.commit()

    async def write_one(self, sql: str, params: Params = ()) -> int:
        """One statement, atomic on its own (autocommit), under the writer lock."""
        with _SQLITE_ERRORS, self._writer:
            cursor = self._connection().cursor()
            try:
                cursor.execute(sql, params)
            finally:
                self._wrote()
            return int(cursor.rowcount)

    async def write_returning(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """One statement with RETURNING, atomic on its own, under the writer lock."""
        with _SQLITE_ERRORS, self._writer:
            try:
                return await SqliteTx(self._connection().cursor()).all(sql, params)
            finally:
                self._wrote()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        with _SQLITE_ERRORS:
            yield SqliteTx(self._connection().cursor())

    async def read_retrying(self, query: Callable[[Tx], Awaitable[T]]) -> T:
        with _SQLITE_ERRORS:
            return await query(SqliteTx(self._connection().cursor()))

    def unchanged_reads(self) -> dict[Any, Any]:
        """This thread's cache of values read from the database, emptied first when anything
        may have changed since they were read (app/store/read_cache.py)."""
        with _SQLITE_ERRORS:
            conn = self._connection()
            local = self._local
            # SQLite's data_version "will be different if changes were committed to the
            # database by any other connection in the interim"; this connection's own commits
            # are counted by _wrote. Read before any value it vouches for is read.
            stamp = (conn.execute("PRAGMA data_version").fetchone()[0], local.own_commits)
        if stamp != local.cache_stamp:
            local.cache.clear()
            local.cache_stamp = stamp
        cache: dict[Any, Any] = local.cache
        return cache

    def _wrote(self) -> None:
        """A write on this thread's connection, committed or not: the reads cached on it are
        stale (data_version does not count a connection's own commits)."""
        self._local.own_commits += 1

    def create_schema(self) -> None:
        _create_owner_only(self.path)
        engine = create_engine(f"sqlite:///{self.path}")
        try:
            with WriterLock(Path(self.path + ".writer-lock")):
                TABLES.create_all(engine)
                add_missing_columns(engine)
                add_missing_indexes(engine)
        finally:
            engine.dispose()
        self._connection()

    async def start(self) -> None:
        """Connections are made per thread on first use; from now on the checkpointer's thread
        copies the log back, and a commit only past BACKSTOP_PAGES."""
        if self._checkpoints is None:
            return
        self._checkpoints.start()
        with self._all_lock:
            for conn in self._all:  # opened before: by create_schema, say
                conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")

    async def stop(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
        with self._all_lock:
            for conn in self._all:
                conn.close()
            DB_CONNECTIONS_OPEN.labels("sqlite").dec(len(self._all))
            self._all.clear()
        self._local = threading.local()
        self._writer.close()


def _create_owner_only(path: str) -> None:
    """Create the database file 0600 (like the secret key file) before SQLite would, with 0644:
    it holds sealed secrets and token digests. SQLite gives the -wal and -shm files it makes
    later the database file's mode. An existing file keeps the mode it has; a path that
    cannot be opened is left for SQLite to report (as DatabaseUnavailable)."""
    if path != ":memory:":
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))


def is_unique_violation(exc: BaseException) -> bool:
    """Whether a statement failed on a unique index (SQLite or PostgreSQL)."""
    return isinstance(exc, sqlite3.IntegrityError | psycopg.errors.UniqueViolation)


class _SqliteErrors:
    """sqlite3's OperationalError (busy, locked, gone) raised as DatabaseUnavailable. A class,
    not @contextlib.contextmanager: it wraps every statement, and a generator per use costs
    several times more."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, trace: object) -> None:
        if isinstance(exc, sqlite3.OperationalError):
            raise DatabaseUnavailable("The database is busy or unavailable; retry shortly") from exc


_SQLITE_ERRORS = _SqliteErrors()


# --- PostgreSQL ---------------------------------------------------------------------------------


_FORMAT_CACHE: dict[str, str] = {}


def to_format_style(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (and a literal `%` doubled), converted once per text.
    An array parameter comes as its literal (app.store.queries.array_literal), cast in the
    statement (`?::text[]`)."""
    converted = _FORMAT_CACHE.get(sql)
    if converted is None:
        converted = sql.replace("%", "%%").replace("?", "%s")
        _FORMAT_CACHE[sql] = converted
    return converted


class PgTx:
    def __init__(self, cursor: psycopg.AsyncCursor[Any]) -> None:
        self._cursor = cursor

    async def run(self, sql: str, params: Params = ()) -> int:
        await self._cursor.execute(to_format_style(sql), params)
        return int(self._cursor.rowcount)

    async def many(self, sql: str, rows: Sequence[Params]) -> None:
        await self._cursor.executemany(to_format_style(sql), rows)

    async def one(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        await self._cursor.execute(to_format_style(sql), params)
        row = await self._cursor.fetchone()
        return tuple(row) if row is not None else None

    async def all(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        await self._cursor.execute(to_format_style(sql), params)
        return [tuple(row) for row in await self._cursor.fetchall()]


class PostgresDatabase:
    """Connections in autocommit mode: a read or a one-statement write is one round trip, and
    only multi-statement writes pay for BEGIN and COMMIT.

    A read that meets a dead connection is retried once on a fresh one (app.store.pg_pool drops its
    idle connections when one dies: a restart or failover killed them all). A write is never
    retried: it may have been applied.
    """

    dialect = "postgresql"

    def __init__(self, url: str, max_size: int = 24, wait_timeout: float = 5.0) -> None:
        self._url = url
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._pool = PgPool(conninfo, max_size=max_size, wait_timeout=wait_timeout)

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        async with self._pool.connection() as conn, conn.transaction():
            yield PgTx(conn.cursor())

    async def write_one(self, sql: str, params: Params = ()) -> int:
        async with self._pool.connection() as conn:
            return await PgTx(conn.cursor()).run(sql, params)

    async def write_returning(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """One statement with RETURNING, in its own transaction (autocommit)."""
        async with self._pool.connection() as conn:
            return await PgTx(conn.cursor()).all(sql, params)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        async with self._pool.connection() as conn:
            yield PgTx(conn.cursor())

    async def read_retrying(self, query: Callable[[Tx], Awaitable[T]]) -> T:
        try:
            async with self.read() as tx:
                return await query(tx)
        except ConnectionLost:
            async with self.read() as tx:
                return await query(tx)

    def unchanged_reads(self) -> None:
        """No cache on PostgreSQL: nothing as cheap as SQLite's data_version tells a process
        that another committed (app/store/read_cache.py)."""
        return None

    def create_schema(self) -> None:
        """Run once at start-up, before serving: SQLAlchemy's DDL on a short-lived engine."""
        engine = create_engine(self._url, pool_size=1, max_overflow=0)
        try:
            try:
                TABLES.create_all(engine)
            except DBAPIError as exc:
                if isinstance(exc.orig, psycopg.OperationalError):
                    detail = f"cannot connect to {shown_url(self._url)}: {why_not(exc.orig)}"
                    raise DatabaseUnavailable("The database is not available", detail) from exc
                # another process created the same table between our check and our CREATE
                TABLES.create_all(engine)
            add_missing_columns(engine)
            add_missing_indexes(engine)
        finally:
            engine.dispose()

    async def start(self) -> None:
        await self._pool.start()

    async def stop(self) -> None:
        await self._pool.stop()

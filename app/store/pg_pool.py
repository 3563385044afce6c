"""A small asyncio pool of psycopg connections that fails fast.

Why not psycopg_pool: it reconnects in the background with a growing back-off and makes a
caller wait up to its timeout for a connection, so while the database refuses connections every
request would hang for the whole timeout, and after the database is back the pool may sleep
through the back-off. docs/reference.md §3 wants a prompt 503 `temporarily_unavailable` and
recovery by itself: here a connection is made on demand, in the request that needs it, and a
refusal is that request's 503 at once; the next request tries again.

- Connections are in autocommit mode and are not pinged before use (a round trip per request).
- A connection that comes back broken, or inside a transaction (its task was cancelled
  mid-statement), is closed, never reused.
- When a statement fails because the connection died, every idle connection is closed too: a
  server restart or failover killed them all, and each would otherwise fail one request.
- At most `max_size` connections; past that, callers queue (first come, first served) for up to
  `wait_timeout` seconds, then get a 503.
- /metrics shows the connections in use, open and allowed (app/metrics.py), kept as they change.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.metrics import (
    DB_CONNECTION_TIMEOUTS,
    DB_CONNECTIONS_IN_USE,
    DB_CONNECTIONS_MAX,
    DB_CONNECTIONS_OPEN,
)
from app.store.errors import ConnectionLost, DatabaseUnavailable

CONNECT_TIMEOUT_SECONDS = 5
LOG_EVERY_SECONDS = 10.0  # a database that stays away is logged this often, not per request

log = logging.getLogger("registrar.database")


def shown_url(conninfo: str) -> str:
    """The connection URL as logs and messages may show it: the password hidden."""
    try:
        return make_url(conninfo).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database"


def why_not(exc: BaseException) -> str:
    """The first line of a driver's error: refused, unknown database, authentication, ..."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


class PgPool:
    def __init__(self, conninfo: str, max_size: int, wait_timeout: float) -> None:
        self._conninfo = conninfo
        self._shown = shown_url(conninfo)
        self._logged_at = -LOG_EVERY_SECONDS
        self._max_size = max_size
        self._wait_timeout = wait_timeout
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._size = 0  # idle + in use + being opened
        self._waiters: collections.deque[asyncio.Future[psycopg.AsyncConnection[Any] | None]] = (
            collections.deque()
        )
        self._closed = False
        self._in_use = DB_CONNECTIONS_IN_USE.labels("postgresql")
        self._open = DB_CONNECTIONS_OPEN.labels("postgresql")
        self._allowed = DB_CONNECTIONS_MAX.labels("postgresql")
        self._timeouts = DB_CONNECTION_TIMEOUTS.labels("postgresql")
        self._counted_max = False

    @property
    def size(self) -> int:
        return self._size

    async def start(self) -> None:
        """Open one connection now, so the first request does not pay for it (best effort)."""
        self._closed = False
        if not self._counted_max:
            self._counted_max = True
            self._allowed.inc(self._max_size)
        with contextlib.suppress(DatabaseUnavailable):
            self._pass_on(await self._connect())

    async def stop(self) -> None:
        self._closed = True
        if self._counted_max:
            self._counted_max = False
            self._allowed.dec(self._max_size)
        idle, self._idle = self._idle, []
        for conn in idle:
            self._resize(-1)
            await conn.close()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(DatabaseUnavailable("The server is shutting down"))

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        conn = await self._acquire()
        self._in_use.inc()
        try:
            yield conn
        except psycopg.OperationalError as exc:
            if conn.closed or conn.broken:
                self._drop_idle()
                raise ConnectionLost("The database connection was lost; retry") from exc
            raise DatabaseUnavailable("The database could not run the statement; retry") from exc
        finally:
            self._in_use.dec()
            await self._release(conn)

    async def _acquire(self) -> psycopg.AsyncConnection[Any]:
        if self._closed:
            raise DatabaseUnavailable("The server is shutting down")
        if self._idle:
            return self._idle.pop()  # the most recently used: warm, and least likely dead
        if self._size < self._max_size:
            return await self._connect()
        waiter: asyncio.Future[psycopg.AsyncConnection[Any] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._wait_timeout):
                conn = await waiter
        except BaseException as exc:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # handed a connection (or a free slot) just as it timed out or was cancelled
                self._pass_on(waiter.result())
            if isinstance(exc, TimeoutError):
                self._timeouts.inc()
                raise DatabaseUnavailable(
                    "All database connections are busy; retry shortly"
                ) from exc
            raise
        # None: a slot was freed (a connection was closed); this caller opens a new one
        return conn if conn is not None else await self._connect()

    def _resize(self, change: int) -> None:
        self._size += change
        self._open.inc(change)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        self._resize(1)
        try:
            return await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except BaseException as exc:
            self._resize(-1)
            self._wake_one(None)
            if isinstance(exc, psycopg.Error | OSError):
                # refused, unreachable, or not accepting connections: the client learns only
                # that; the operator learns why, and where (the password hidden)
                detail = f"cannot connect to {self._shown}: {why_not(exc)}"
                self._log(detail)
                raise DatabaseUnavailable(
                    "The database is not available; retry shortly", detail
                ) from exc
            raise

    def _log(self, detail: str) -> None:
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            log.warning("%s", detail)

    async def _release(self, conn: psycopg.AsyncConnection[Any]) -> None:
        healthy = (
            not self._closed
            and not conn.closed
            and conn.info.transaction_status == TransactionStatus.IDLE
        )
        if not healthy:
            self._resize(-1)
            with contextlib.suppress(Exception):
                await conn.close()
            self._wake_one(None)
            return
        self._pass_on(conn)

    def _pass_on(self, conn: psycopg.AsyncConnection[Any] | None) -> None:
        """A healthy connection (or, with None, a free slot) to the next waiter, else idle."""
        if not self._wake_one(conn) and conn is not None:
            self._idle.append(conn)

    def _wake_one(self, conn: psycopg.AsyncConnection[Any] | None) -> bool:
        """Hand `conn` (or, with None, the right to open one) to the longest waiter, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return True
        return False

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        self._resize(-len(idle))
        for conn in idle:
            # closing a dead socket needs no round trip; never let it raise here
            with contextlib.suppress(Exception):
                conn.pgconn.finish()
        for _ in idle:
            if not self._wake_one(None):
                break

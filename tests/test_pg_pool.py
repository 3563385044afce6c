"""The asyncio PostgreSQL pool (app.store.pg_pool) against a real server: bounded size, a prompt 503
when it is exhausted or the database refuses, and no broken connection ever handed out twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from app.store.database import PostgresDatabase, Tx
from app.store.errors import ConnectionLost, DatabaseUnavailable
from app.store.pg_pool import PgPool
from tests.databases import PG_ADMIN_URL
from tests.helpers import async_wait_until

pytestmark = pytest.mark.anyio


def _conninfo(pg_url: str) -> str:
    return pg_url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[PgPool]:
    made = PgPool(_conninfo(pg_url), max_size=2, wait_timeout=0.5)
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


def _state(pid: int) -> str | None:
    """pg_stat_activity's state of a backend, None once it is gone."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        row = admin.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    return None if row is None else str(row[0])


async def _backend_pid(pool: PgPool) -> int:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT pg_backend_pid()")
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


async def test_never_more_connections_than_max_size(pool: PgPool) -> None:
    peak = 0

    async def slow_query() -> None:
        nonlocal peak
        async with pool.connection() as conn:
            peak = max(peak, pool.size)
            await conn.execute("SELECT pg_sleep(0.02)")

    await asyncio.gather(*(slow_query() for _ in range(12)))  # 12 queued on 2 connections
    assert peak == 2
    assert pool.size == 2


async def test_an_exhausted_pool_answers_503_after_the_wait(pool: PgPool) -> None:
    holding: list[int] = []

    async def hold() -> None:
        async with pool.connection() as conn:
            holding.append(1)
            await conn.execute("SELECT pg_sleep(1.5)")

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await async_wait_until(lambda: len(holding) == 2, timeout=5, what="both connections taken")
    with pytest.raises(DatabaseUnavailable):
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")  # never reached: no connection within the wait
    await asyncio.gather(*holders)
    async with pool.connection() as conn:  # and it serves again once they are done
        await conn.execute("SELECT 1")


async def test_a_cancelled_query_leaves_no_busy_connection_behind(pool: PgPool) -> None:
    """psycopg cancels the statement on the server when its task is cancelled; a connection
    comes back to the pool only when it is idle again (app.store.pg_pool closes it otherwise)."""
    used: list[int] = []

    async def long_query() -> None:
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT pg_backend_pid()")
            row = await cursor.fetchone()
            assert row is not None
            used.append(int(row[0]))
            await conn.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(long_query())
    await async_wait_until(
        lambda: used and _state(used[0]) == "active", timeout=5, what="the long query to run"
    )
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(used) == 1
    for _ in range(4):
        assert await _backend_pid(pool) > 0  # the pool serves at once, no 30 s wait
    assert pool.size <= 2
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        running = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
            (used[0],),
        ).fetchone()
    assert running == (0,)  # the sleep is not left running on the server


async def test_killed_connections_are_dropped_and_a_read_is_retried(pg_url: str) -> None:
    database = PostgresDatabase(pg_url, max_size=4)
    await database.start()
    try:

        async def pid(tx: Tx) -> int:
            row = await tx.one("SELECT pg_backend_pid()")
            assert row is not None
            return int(row[0])

        # two connections in the pool, both about to die
        async with database.read() as first, database.read() as second:
            pids = {await pid(first), await pid(second)}
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            for dead in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (dead,))
        await async_wait_until(
            lambda: all(_state(dead) is None for dead in pids),
            timeout=5,
            what="the terminated backends to be gone",
        )
        with pytest.raises(ConnectionLost):
            async with database.read() as tx:
                await pid(tx)
        # the sibling was dropped with it: the next read opens a fresh connection at once
        assert await database.read_retrying(pid) not in pids
    finally:
        await database.stop()


async def test_a_refused_connection_is_an_immediate_503() -> None:
    # nothing listens on port 9 of the loopback (discard): refused at once, not after a timeout
    refused = PgPool("postgresql://postgres@127.0.0.1:9/none", max_size=2, wait_timeout=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DatabaseUnavailable):
        async with refused.connection() as conn:
            await conn.execute("SELECT 1")  # never reached: the connection is refused
    assert loop.time() - started < 2
    assert refused.size == 0  # the failed attempt gave its slot back

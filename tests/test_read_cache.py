"""The per-process cache of client rows and revocations (app/store/read_cache.py): a read after
a commit of any connection (another worker's, another thread's, its own) sees that commit.

Two stores on one database stand for two worker processes: each has connections of its own.
The guarantee is checked on both databases (PostgreSQL has no cache, and must answer alike);
that a repeated read is served without its query, only on SQLite, where the cache lives.
tests/test_read_cache_live.py races the same through a real server with two workers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from app.store.database import SqliteDatabase
from app.store.queries import ClientRow, ClientUpdate, InitialAccessTokenRow, Store
from app.store.read_cache import MAX_ENTRIES, remember

pytestmark = pytest.mark.anyio


def row(client_id: str, rat: str = "rat-1") -> ClientRow:
    return ClientRow(client_id, "open", json.dumps({"client_name": client_id}), None, rat,
                     "iat", True, False, False, 1_000, 1_000)  # fmt: skip


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database (as two workers): `reader` reads, `writer` changes."""
    reader, writer = Store.for_url(database_url), Store.for_url(database_url)
    reader.db.create_schema()
    await reader.start()
    await writer.start()
    try:
        await writer.insert_initial_access_token(
            InitialAccessTokenRow("iat-1", "open", 0, None, 100, 100), "iat-digest"
        )
        await writer.insert_client(row("client-1"), ("iat-1", "iat-digest"), None, 2_000)
        yield reader, writer
    finally:
        await writer.stop()
        await reader.stop()


def update(client_id: str, rat: str, expected: str) -> ClientUpdate:
    return ClientUpdate(client_id, "open", json.dumps({"client_name": "renamed"}), None, False,
                        rat, False, False, 3_000, expected)  # fmt: skip


async def test_a_read_sees_another_process_update_and_delete(stores: tuple[Store, Store]) -> None:
    reader, writer = stores
    for _ in range(3):  # read again and again: cached where there is a cache
        found = await reader.get_client("open", "client-1")
        assert found is not None and found.rat_digest == "rat-1"
    assert await writer.replace_client(update("client-1", "rat-2", "rat-1"))
    found = await reader.get_client("open", "client-1")
    assert found is not None
    assert (found.rat_digest, found.metadata()["client_name"]) == ("rat-2", "renamed")
    assert await writer.delete_client("open", "client-1", "rat-2")
    assert await reader.get_client("open", "client-1") is None


async def test_a_read_sees_another_process_revocation(stores: tuple[Store, Store]) -> None:
    reader, writer = stores
    for _ in range(3):
        assert not await reader.is_revoked("open", "jti-1")
        assert (await reader.get_client_and_revoked("open", "client-1", "jti-2"))[1] is False
    await writer.revoke_token("open", "jti-1", 2_000_000_000)
    await writer.revoke_token("open", "jti-2", 2_000_000_000)
    assert await reader.is_revoked("open", "jti-1")
    found, revoked = await reader.get_client_and_revoked("open", "client-1", "jti-2")
    assert found is not None and revoked


async def test_a_read_sees_its_own_process_writes(stores: tuple[Store, Store]) -> None:
    """A connection's own commits do not change SQLite's data_version: the store counts them."""
    reader, _ = stores
    assert await reader.get_client("open", "client-1") is not None
    assert not await reader.is_revoked("open", "jti-1")
    assert await reader.replace_client(update("client-1", "rat-2", "rat-1"))
    found = await reader.get_client("open", "client-1")
    assert found is not None and found.rat_digest == "rat-2"
    await reader.revoke_token("open", "jti-1", 2_000_000_000)
    assert await reader.is_revoked("open", "jti-1")
    assert await reader.delete_client("open", "client-1", "rat-2")
    assert await reader.get_client("open", "client-1") is None


async def test_a_repeated_read_costs_no_query_until_something_is_committed(
    sqlite_url: str,
) -> None:
    reader, writer = Store.for_url(sqlite_url), Store.for_url(sqlite_url)
    reader.db.create_schema()
    await writer.insert_initial_access_token(
        InitialAccessTokenRow("iat-1", "open", 0, None, 100, 100), "iat-digest"
    )
    await writer.insert_client(row("client-1"), ("iat-1", "iat-digest"), None, 2_000)
    db = reader.db
    assert isinstance(db, SqliteDatabase)
    statements: list[str] = []
    db._connection().set_trace_callback(statements.append)
    try:
        first = await reader.get_client("open", "client-1")
        assert any("FROM client" in s for s in statements)
        statements.clear()
        again = await reader.get_client("open", "client-1")
        assert again == first
        assert statements == ["PRAGMA data_version"]  # the stamp only
        statements.clear()
        await writer.revoke_token("open", "jti-x", 2_000_000_000)  # any commit elsewhere
        assert await reader.get_client("open", "client-1") == first
        assert any("FROM client" in s for s in statements)
    finally:
        await writer.stop()
        await reader.stop()


def test_the_cache_is_bounded() -> None:
    cache: dict[object, object] = {}
    for n in range(MAX_ENTRIES + 10):
        remember(cache, n, n)
    assert len(cache) <= MAX_ENTRIES
    assert cache[MAX_ENTRIES + 9] == MAX_ENTRIES + 9

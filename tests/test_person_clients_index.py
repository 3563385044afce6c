"""A person's "My clients" (the clients they registered while signed in) is listed and counted
through an index of its own, not by walking every client of the realm; a database made before
that index existed gets it at start, also when several processes start at once. On SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.store.queries import CLIENT_READ_COLUMNS, ClientFilter, ClientRow, Store
from app.store.schema import ADDED_INDEXES

pytestmark = pytest.mark.anyio

INDEX = "ix_client_registered_by"
STRANGERS = 3000  # clients registered by RFC 7591 alone: the walk the index spares
ALICE = 5


def _row(n: int, registered_by: str | None) -> ClientRow:
    return ClientRow(f"client-{n:05d}", "open", "{}", None, f"rat-{n}", "anonymous", True, False,
                     True, 1_000 + n, 1_000 + n, registered_by=registered_by)  # fmt: skip


async def _plan(store: Store, sql: str, params: tuple[object, ...]) -> str:
    """The query plan of `sql`, as one text (statistics fresh, as a running server's are)."""
    if store.dialect == "postgresql":
        await store.db.write_one("ANALYZE client")
        rows = await store.db.read_retrying(lambda tx: tx.all(f"EXPLAIN {sql}", params))
    else:
        await store.db.write_one("ANALYZE")
        rows = await store.db.read_retrying(lambda tx: tx.all(f"EXPLAIN QUERY PLAN {sql}", params))
    return "\n".join(" ".join(str(part) for part in row) for row in rows)


async def _index_names(store: Store) -> set[str]:
    if store.dialect == "postgresql":
        sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'client'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'client'"
    rows = await store.db.read_retrying(lambda tx: tx.all(sql))
    return {str(row[0]) for row in rows}


async def test_a_persons_clients_are_listed_and_counted_through_their_index(
    database_url: str,
) -> None:
    store = Store.for_url(database_url)
    store.create_schema()
    await store.start()
    try:
        rows = [_row(n, None) for n in range(STRANGERS)]
        # alice's clients among the others, and bob's
        rows += [_row(STRANGERS + n, "alice") for n in range(ALICE)]
        rows += [_row(STRANGERS + ALICE + n, "bob") for n in range(2)]
        await store.insert_clients_bulk(rows)
        mine = ClientFilter(registered_by="alice")
        listed = await store.list_clients("open", 0, 100, mine)
        assert [row.client_id for row in listed] == [
            f"client-{STRANGERS + n:05d}" for n in range(ALICE)
        ]
        newest = await store.list_clients(
            "open", 0, 2, ClientFilter(registered_by="alice", newest_first=True)
        )
        assert [row.client_id for row in newest] == [
            f"client-{STRANGERS + ALICE - 1:05d}", f"client-{STRANGERS + ALICE - 2:05d}"
        ]  # fmt: skip
        after = await store.list_clients_after("open", (listed[1].created_at, listed[1].client_id),
                                               100, mine)  # fmt: skip
        assert [row.client_id for row in after] == [row.client_id for row in listed[2:]]
        assert await store.count_clients("open", mine) == ALICE
        assert await store.count_clients("other", mine) == 0

        page = (
            f"SELECT {CLIENT_READ_COLUMNS} FROM client WHERE realm = ? AND registered_by = ? "
            "ORDER BY created_at, client_id LIMIT ? OFFSET ?"
        )
        assert INDEX in await _plan(store, page, ("open", "alice", 100, 0))
        count = "SELECT count(*) FROM client WHERE realm = ? AND registered_by = ?"
        assert INDEX in await _plan(store, count, ("open", "alice"))
    finally:
        await store.stop()


async def test_an_older_database_gets_the_index_at_start(database_url: str) -> None:
    assert INDEX in ADDED_INDEXES
    made = Store.for_url(database_url)
    made.create_schema()
    await made.start()
    try:
        await made.db.write_one(f"DROP INDEX {INDEX}")
        assert INDEX not in await _index_names(made)
    finally:
        await made.stop()

    def start_one(_: int) -> None:
        Store.for_url(database_url).create_schema()

    # three start-ups at once: one creates the index, the others wait for it or find it made
    with ThreadPoolExecutor(max_workers=3) as pool:
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: list(pool.map(start_one, range(3)))
        )
    store = Store.for_url(database_url)
    await store.start()
    try:
        assert INDEX in await _index_names(store)
    finally:
        await store.stop()

"""The queries of clients that bring their own identity: metadata document clients (their
client row and when to fetch the document again) and the `jti`s of used client assertions.

Both live in the database, so every process shares them: a document fetched by one worker
serves the others, and an assertion spent at one worker is a replay at every other.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from app.store.database import Database
from app.store.queries import INSERT_CLIENT, ClientRow, client_params

# a client row per document URL; an existing one keeps its flags (an admin's disable stays) and
# takes the new metadata, but only within its own realm
UPSERT_DOCUMENT_CLIENT = (
    f"{INSERT_CLIENT} "
    "ON CONFLICT (client_id) DO UPDATE SET metadata_json = excluded.metadata_json, "
    "updated_at = excluded.updated_at WHERE client.realm = excluded.realm"
)
UPSERT_DOCUMENT_TIMES = (
    "INSERT INTO client_document (client_id, realm, fetched_at, refresh_at, expires_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (client_id) DO UPDATE SET "
    "fetched_at = excluded.fetched_at, refresh_at = excluded.refresh_at, "
    "expires_at = excluded.expires_at WHERE client_document.realm = excluded.realm"
)
SWEEP_EVERY = 256  # spends between two sweeps of expired jtis, per process


@dataclass(frozen=True)
class DocumentTimes:
    fetched_at: int
    refresh_at: int
    expires_at: int


class ClientDocumentStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._spends = itertools.count(1)

    async def times(self, realm: str, client_id: str) -> DocumentTimes | None:
        found = await self._db.read_retrying(
            lambda tx: tx.one(
                "SELECT fetched_at, refresh_at, expires_at FROM client_document "
                "WHERE client_id = ? AND realm = ?",
                (client_id, realm),
            )
        )
        return DocumentTimes(*map(int, found)) if found is not None else None

    async def put(self, row: ClientRow, times: DocumentTimes) -> bool:
        """Store a freshly fetched document's client and times, in one transaction; False when
        the URL is a client of another realm of this database (nothing is written then)."""
        params = client_params(row)
        async with self._db.write() as tx:
            if await tx.run(UPSERT_DOCUMENT_CLIENT, params) != 1:
                return False
            await tx.run(
                UPSERT_DOCUMENT_TIMES,
                (row.client_id, row.realm, times.fetched_at, times.refresh_at, times.expires_at),
            )
        return True

    async def spend_assertion(self, key: str, expires_at: int, now: int) -> bool:
        """Note a client assertion's jti (`key`, a digest) until `expires_at`: True for its
        first use, False for a replay. Of racing uses the primary key lets exactly one in."""
        async with self._db.write() as tx:
            # a jti may come back once the assertion that used it has expired
            await tx.run(
                "DELETE FROM used_client_assertion WHERE key = ? AND expires_at < ?", (key, now)
            )
            spent = await tx.run(
                "INSERT INTO used_client_assertion (key, expires_at) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                (key, expires_at),
            )
        if next(self._spends) % SWEEP_EVERY == 0:
            await self._db.write_one(
                "DELETE FROM used_client_assertion WHERE expires_at < ?", (now,)
            )
        return spent == 1

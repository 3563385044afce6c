"""The queries of deduplicated registration: which client one metadata registered from one
address made, kept in `registration_digest` by (realm, digest).

Race-free in SQL: the digest's row is claimed by an upsert in the transaction that inserts the
client, and the claim succeeds only if the row is new or its window is over (or its client is
known to be gone). Of two identical registrations at once, the second waits on the first's row
(PostgreSQL) or on the writer lock (SQLite), finds the claim taken, and inserts nothing.
"""

from __future__ import annotations

from app.store.errors import RealmFull
from app.store.queries import INSERT_CLIENT, ClientRow, Store, client_params

# The WHERE reads only the conflicting row: on PostgreSQL that row is read at its latest
# committed version, while a subquery would see the statement's older snapshot.
CLAIM_DIGEST = (
    "INSERT INTO registration_digest (realm, digest, client_id, registered_at) "
    "VALUES (?, ?, ?, ?) "
    "ON CONFLICT (realm, digest) DO UPDATE "
    "SET client_id = excluded.client_id, registered_at = excluded.registered_at "
    "WHERE registration_digest.registered_at < ? OR registration_digest.client_id = ?"
)
LIVE_CLIENT_OF_DIGEST = (
    "SELECT d.client_id FROM registration_digest d "
    "JOIN client c ON c.client_id = d.client_id AND c.realm = d.realm "
    "WHERE d.realm = ? AND d.digest = ? AND d.registered_at >= ? AND c.enabled"
)


class _Taken(Exception):
    def __init__(self, client_id: str) -> None:
        super().__init__(client_id)
        self.client_id = client_id


class RegistrationDigests:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._db = store.db

    async def live_client(self, realm: str, digest: str, since: int) -> str | None:
        """The enabled client `digest` registered at or after `since`, if any."""
        found = await self._db.read_retrying(
            lambda tx: tx.one(LIVE_CLIENT_OF_DIGEST, (realm, digest, since))
        )
        return str(found[0]) if found is not None else None

    async def insert_client(
        self,
        row: ClientRow,
        digest: str,
        since: int,
        max_clients: int | None,
        gone: str | None = None,
    ) -> str | None:
        """Insert `row` as the client of `digest`; or, if the digest names another client
        registered at or after `since` (and not `gone`, a client known deleted or disabled),
        write nothing and return that client's id. Raises RealmFull past max_clients."""
        try:
            async with self._db.write() as tx:
                if max_clients is not None and not await self._store.room_for_one(
                    tx, row.realm, max_clients
                ):
                    raise RealmFull()
                claim = (row.realm, digest, row.client_id, row.created_at, since, gone or "")
                if await tx.run(CLAIM_DIGEST, claim) != 1:
                    holder = await tx.one(
                        "SELECT client_id FROM registration_digest WHERE realm = ? AND digest = ?",
                        (row.realm, digest),
                    )
                    raise _Taken(str(holder[0]) if holder else "")
                await tx.run(INSERT_CLIENT, client_params(row))
                # digests past their window are of no more use (the index makes this cheap)
                await tx.run(
                    "DELETE FROM registration_digest WHERE realm = ? AND registered_at < ?",
                    (row.realm, since),
                )
        except _Taken as taken:  # the transaction rolled back: nothing was written
            return taken.client_id
        return None

    async def hand_over(
        self, realm: str, client: ClientRow, digest: str, rat_digest: str, now: int
    ) -> bool:
        """Give `client`, the client of `digest`, a new registration access token (the old one
        stops working) and start its window again; False if it is gone, disabled, or its
        metadata changed since it was read (compare-and-swap on the stored metadata)."""
        async with self._db.write() as tx:
            rotated = await tx.run(
                "UPDATE client SET rat_digest = ?, updated_at = ? "
                "WHERE client_id = ? AND realm = ? AND enabled AND metadata_json = ?",
                (rat_digest, now, client.client_id, realm, client.metadata_json),
            )
            if rotated != 1:
                return False
            await tx.run(
                "UPDATE registration_digest SET registered_at = ? "
                "WHERE realm = ? AND digest = ? AND client_id = ?",
                (now, realm, digest, client.client_id),
            )
        return True

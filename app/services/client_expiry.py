"""Clients that nobody uses go away (a realm's `client_expiry`): each use of a registered
client — a token issued, a registration read or update — is noted in memory and written in
batches (not a write per request); the scheduler deletes the clients unused for `unused_after`,
or with `dry_run` only logs them and records the events. Clients an admin registered, and if the
realm says so service accounts, are spared."""

from __future__ import annotations

import logging

from app.config.realm_models import RealmConfig
from app.services.events import EventLog
from app.services.periodic import PeriodicFlush
from app.store.queries import Store

FLUSH_SECONDS = 1.0
MAX_PENDING = 100_000
BATCH = 1000  # clients deleted per realm and sweep, at most

log = logging.getLogger("registrar.expiry")


class ClientUses(PeriodicFlush):
    interval = FLUSH_SECONDS

    def __init__(self, store: Store, events: EventLog) -> None:
        self._store = store
        self._events = events
        self._pending: dict[tuple[str, str], int] = {}

    def note(self, realm: RealmConfig, client_id: str, now: int) -> None:
        """A use of the client now; only realms that expire clients keep track."""
        if realm.client_expiry.unused_after is None:
            return
        if len(self._pending) >= MAX_PENDING:  # past this, flush first (the loop is behind)
            return
        self._pending[(realm.name, client_id)] = now

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        uses = [(realm, client_id, when) for (realm, client_id), when in pending.items()]
        await self._store.record_uses(uses)

    async def expire(self, realm: RealmConfig, now: int) -> int:
        """Delete (or, dry run, only report) the realm's clients unused for `unused_after`;
        how many there were."""
        seconds = realm.client_expiry.unused_seconds
        if seconds is None:
            return 0
        await self.flush()  # the uses noted so far count
        expiry = realm.client_expiry
        unused = await self._store.unused_clients(
            realm.name,
            now - seconds,
            BATCH,
            but_admin_created=expiry.exempt_admin_created,
            but_service_accounts=expiry.exempt_service_accounts,
        )
        dry = realm.client_expiry.dry_run
        for row in unused:
            if not dry and not await self._store.delete_client(realm.name, row.client_id, None):
                continue  # deleted meanwhile
            log.info(
                "%sclient %s of realm %r unused since %s",
                "dry run: would delete " if dry else "deleted ",
                row.client_id,
                realm.name,
                max(row.last_used_at, row.created_at),
            )
            details = {"reason": "unused", "dry_run": "true" if dry else "false"}
            self._events.record(realm, "CLIENT_DELETE", None, row.client_id, None, details)
        return len(unused)

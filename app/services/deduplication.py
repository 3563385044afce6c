"""Deduplicated registration (a realm's `deduplicate` option, docs/reference.md): an MCP client
often registers again each time it connects; the same metadata from the same address within
the window gets the client it registered before, with a new registration access token.

Only anonymous registrations of public clients (`token_endpoint_auth_method: none`): whoever
knows a client's metadata and shares its address takes over its registration access token, and
a confidential client's secret must never be handed to anyone but its one registrant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from app.auth.callers import Caller
from app.config.realm_models import RealmConfig
from app.jsonio import canonical_dumps
from app.store.queries import ClientRow, Store
from app.store.registration_digests import RegistrationDigests

ATTEMPTS = 3  # a hand-over loses only to a delete, a disable or an update; a retry sees which


def applies(realm: RealmConfig, caller: Caller, metadata: Mapping[str, Any]) -> bool:
    return (
        realm.deduplicate is not None
        and caller.kind == "anonymous"
        and metadata.get("token_endpoint_auth_method") == "none"
    )


def registration_digest(caller: Caller, body: Mapping[str, Any]) -> str:
    """SHA-256 of the caller's address and the body as sent (its software statement included),
    keys sorted: equal metadata from one address, one digest."""
    text = caller.host.encode() + b"\n" + canonical_dumps(dict(body))
    return hashlib.sha256(text).hexdigest()


class Deduplication:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._digests = RegistrationDigests(store)

    async def register(
        self,
        realm: RealmConfig,
        row: ClientRow,
        digest: str,
        max_clients: int | None,
    ) -> ClientRow | None:
        """Insert `row` (None: it is new), or hand the client registered before with the
        same digest the registration access token of `row` and return that client's row."""
        assert realm.deduplicate is not None
        since = row.created_at - realm.deduplicate.window_seconds
        gone: str | None = None
        for _ in range(ATTEMPTS):
            found = await self._digests.live_client(realm.name, digest, since)
            if found is not None:
                existing = await self._store.get_client(realm.name, found)
                if existing is None or existing.metadata() != row.metadata():
                    # deleted, or updated since (RFC 7592 PUT): not the client this asks for
                    gone = found
                elif await self._digests.hand_over(
                    realm.name, existing, digest, row.rat_digest, row.created_at
                ):
                    return existing
                else:
                    continue  # deleted, disabled or updated meanwhile: look again
            holder = await self._digests.insert_client(row, digest, since, max_clients, gone)
            if holder is None:
                return None
            gone = holder  # not live a moment ago, unless it was just inserted: look again
        # every attempt raced a delete or a disable: a client of its own, not deduplicated
        await self._store.insert_client(row, None, max_clients, row.created_at)
        return None

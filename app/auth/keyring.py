"""Realm signing keys, made on first use and kept sealed in the database (docs/reference.md §1)."""

from __future__ import annotations

import asyncio
import time

from app.auth.secret_box import SecretBox
from app.auth.tokens import RealmKeys
from app.store.queries import Store


class Keyring:
    """Per-process cache of each realm's keys; every process sharing a database gets the same."""

    def __init__(self, store: Store, box: SecretBox) -> None:
        self._store = store
        self._box = box
        self._keys: dict[str, RealmKeys] = {}

    async def get(self, realm: str) -> RealmKeys:
        keys = self._keys.get(realm)
        if keys is None:
            # two tasks loading at once both end with the stored keys (put_realm_key keeps
            # the first), so no lock is needed
            keys = await self._load(realm)
            self._keys[realm] = keys
        return keys

    def cached(self, realm: str) -> RealmKeys | None:
        """The realm's keys if this process has loaded them already."""
        return self._keys.get(realm)

    async def _load(self, realm: str) -> RealmKeys:
        context = f"realm-key:{realm}"
        sealed = await self._store.get_realm_key(realm)
        if sealed is None:
            # RSA generation takes a while: off the event loop, and outside the write
            # transaction; of several processes racing here the first insert wins
            generated = await asyncio.to_thread(RealmKeys.generate)
            fresh = self._box.seal(generated.to_private_json(), context)
            sealed = await self._store.put_realm_key(realm, fresh, int(time.time()))
        return RealmKeys.from_private_json(self._box.unseal(sealed, context))

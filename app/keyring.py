"""Realm signing keys, made on first use and kept sealed in the database (CONTRACT §1)."""

from __future__ import annotations

import threading
import time

from app.credentials import SecretBox
from app.store import Store
from app.tokens import RealmKeys


class Keyring:
    """Per-process cache of each realm's keys; every process sharing a database gets the same."""

    def __init__(self, store: Store, box: SecretBox) -> None:
        self._store = store
        self._box = box
        self._keys: dict[str, RealmKeys] = {}
        self._lock = threading.Lock()

    def get(self, realm: str) -> RealmKeys:
        keys = self._keys.get(realm)
        if keys is not None:
            return keys
        with self._lock:
            keys = self._keys.get(realm)
            if keys is None:
                keys = self._load(realm)
                self._keys[realm] = keys
        return keys

    def _load(self, realm: str) -> RealmKeys:
        context = f"realm-key:{realm}"
        sealed = self._store.get_realm_key(realm)
        if sealed is None:
            # made outside the write transaction (RSA generation takes a while); of several
            # processes racing here the first insert wins and everyone uses its keys
            fresh = self._box.seal(RealmKeys.generate().to_private_json(), context)
            sealed = self._store.put_realm_key(realm, fresh, int(time.time()))
        return RealmKeys.from_private_json(self._box.open(sealed, context))

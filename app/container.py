"""The Services container: every live object of one process, built from Settings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from app.auth.bearer import TrustedKeys, verify_bearer
from app.auth.callers import Credential, VerifiedTokens, identify
from app.auth.hosts import CachingResolver
from app.auth.keyring import Keyring
from app.auth.secret_box import SecretBox, SecretKeyError, load_secret_key
from app.config.realms import RealmConfig, RealmRegistry
from app.config.settings import Settings
from app.errors import NotFound
from app.store.queries import Store

log = logging.getLogger("registrar")

KEY_CHECK_NAME = "secret_key_check"
KEY_CHECK_TEXT = "registrar secret key check"


@dataclass
class Services:
    settings: Settings
    store: Store
    box: SecretBox
    keyring: Keyring
    realms: RealmRegistry
    resolve: CachingResolver = field(default_factory=CachingResolver)
    trusted_keys: TrustedKeys = field(default_factory=TrustedKeys)
    verified: VerifiedTokens = field(default_factory=VerifiedTokens)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        box = SecretBox(load_secret_key(settings.secret_key, settings.secret_key_file))
        store = Store.open(settings.database_url, settings.database_pool_size)
        return cls(
            settings=settings,
            store=store,
            box=box,
            keyring=Keyring(store, box),
            realms=RealmRegistry(settings.realms_dir),
        )

    async def start(self) -> None:
        """Create tables, check the at-rest key against the database, load realms.

        Runs on the event loop that will serve (PostgreSQL connections belong to one loop)."""
        self.store.create_schema()
        await self.store.connect()
        await self.check_secret_key()
        self.realms.reload()  # the registry logs each FILE:LINE error itself

    async def stop(self) -> None:
        await self.store.close()

    async def check_secret_key(self) -> None:
        """A wrong key is a clear start-up error (CONTRACT §4), not garbage later."""
        sealed = await self.store.get_or_put_meta(
            KEY_CHECK_NAME, self.box.seal(KEY_CHECK_TEXT, KEY_CHECK_NAME)
        )
        try:
            self.box.open(sealed, KEY_CHECK_NAME)
        except SecretKeyError as exc:
            raise SecretKeyError(
                "the secret key (REGISTRAR_SECRET_KEY or REGISTRAR_SECRET_KEY_FILE) is not the "
                "one this database was created with"
            ) from exc

    def issuer(self, realm: str) -> str:
        return f"{self.settings.base_url}/realms/{realm}"

    def enabled_realm(self, name: str) -> RealmConfig:
        """The realm, or 404 when it is unknown or disabled."""
        realm = self.realms.get(name)
        if realm is None or not realm.enabled:
            raise NotFound(f"Realm '{name}' not found")
        return realm

    async def credential(self, realm: RealmConfig, token: str | None, now: int) -> Credential:
        """Verify whatever token the request carried (signature, issuer, expiry, typ).

        Registration and initial access tokens are checked on the event loop (an HMAC, no I/O
        once the realm's keys are cached); an external bearer may need its issuer's keys
        fetched over the network, so it is checked in a worker thread."""
        if token is not None:
            known = self.verified.get(realm.name, token, now)
            if known is not None:
                return known
        keys = await self.keyring.get(realm.name)
        issuer = self.issuer(realm.name)
        found = identify(keys, issuer, token, now)
        if found.kind != "bearer":
            self.verified.add(realm.name, found)
            return found
        return await asyncio.to_thread(
            verify_bearer, realm, issuer, keys, self.trusted_keys, found.token, now
        )

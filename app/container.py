"""The container: every live object of one process, built from Settings, started and stopped
with the server. Services receive only what they use from it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.auth.authenticator import Authenticator
from app.auth.client_assertions import ClientKeys
from app.auth.hosts import CachingResolver
from app.auth.keyring import Keyring
from app.auth.outbound import OutboundFetcher
from app.auth.secret_box import SecretBox, SecretKeyError, load_secret_key
from app.auth.upstream import UpstreamClient
from app.config.realm_models import RealmConfig
from app.config.realms import RealmRegistry
from app.config.settings import Settings
from app.errors import NotFound
from app.services.admin import Admin
from app.services.authorization import Authorization
from app.services.broker import Broker
from app.services.client_documents import ClientDocuments
from app.services.client_expiry import ClientUses
from app.services.console_client import ConsoleSignin, builtin_client
from app.services.events import EventLog
from app.services.people import People
from app.services.private_key_jwt import PrivateKeyJwt
from app.services.rate_limits import RateLimiter
from app.services.registration import Registrations
from app.services.representations import Representations
from app.services.signin_events import SigninEvents
from app.services.token_endpoint import TokenEndpoint
from app.services.user_tokens import UserTokens
from app.store.broker import BrokerStore
from app.store.client_documents import ClientDocumentStore
from app.store.queries import Store
from app.store.signin import SigninStore

log = logging.getLogger("registrar")

KEY_CHECK_NAME = "secret_key_check"
KEY_CHECK_TEXT = "registrar secret key check"


@dataclass
class Container:
    settings: Settings
    store: Store
    box: SecretBox
    keyring: Keyring
    realms: RealmRegistry
    authenticator: Authenticator
    registrations: Registrations
    admin: Admin
    representations: Representations
    tokens: TokenEndpoint
    limiter: RateLimiter
    events: EventLog
    uses: ClientUses
    authorization: Authorization
    user_tokens: UserTokens
    signin_store: SigninStore
    broker: Broker
    broker_store: BrokerStore
    upstream: UpstreamClient  # outbound HTTP to upstream providers; tests set its transport
    documents: ClientDocuments
    console_signin: ConsoleSignin
    people: People
    signin_events: SigninEvents
    # false for a command that must not create anything: no key file, database or tables
    creates: bool = True

    @classmethod
    def build(cls, settings: Settings, *, create: bool = True) -> Container:
        """Every object, wired; nothing is opened yet (start() does that)."""
        key = load_secret_key(settings.secret_key, settings.secret_key_file, create)
        box = SecretBox(key)
        store = Store.for_url(settings.database_url, settings.database_pool_size, create)
        keyring = Keyring(store, box)
        issuer = settings.issuer
        limiter = RateLimiter(store)
        events = EventLog(store)
        uses = ClientUses(store, events)
        resolver = CachingResolver()
        registrations = Registrations(store, box, keyring, resolver, issuer, limiter, events, uses)
        signin = SigninStore(store.db)
        broker_store = BrokerStore(store.db)
        people = People(broker_store, signin)
        upstream = UpstreamClient()
        fetcher = OutboundFetcher()
        document_store = ClientDocumentStore(store.db)
        documents = ClientDocuments(store, document_store, fetcher, resolver)
        assertions = PrivateKeyJwt(documents, document_store, ClientKeys(fetcher), issuer)
        user_tokens = UserTokens(store, signin, keyring, issuer, people)
        return cls(
            settings=settings,
            store=store,
            box=box,
            keyring=keyring,
            realms=RealmRegistry(settings.realms_dir),
            authenticator=Authenticator(keyring, issuer, store.is_revoked, signin.family_live),
            registrations=registrations,
            admin=Admin(store, keyring, issuer, registrations),
            representations=Representations(registrations, store),
            tokens=TokenEndpoint(
                store,
                box,
                keyring,
                issuer,
                uses,
                limiter,
                family_live=signin.family_live,
                documents=documents,
                assertions=assertions,
            ),  # fmt: skip
            limiter=limiter,
            events=events,
            uses=uses,
            authorization=Authorization(
                store, signin, keyring, issuer, people, documents, builtin_client
            ),
            user_tokens=user_tokens,
            signin_store=signin,
            broker=Broker(upstream, broker_store, box, issuer),
            broker_store=broker_store,
            upstream=upstream,
            documents=documents,
            console_signin=ConsoleSignin(user_tokens, keyring, issuer),
            people=people,
            signin_events=SigninEvents(events),
            creates=create,
        )

    async def start(self) -> None:
        """Create tables, check the at-rest key against the database, load realms.

        Runs on the event loop that will serve (PostgreSQL connections belong to one loop)."""
        if self.creates:
            self.store.create_schema()
        await self.store.start()
        await self.check_secret_key()
        self.realms.reload()  # the registry logs each FILE:LINE error itself
        await self.events.start()
        await self.uses.start()

    async def stop(self) -> None:
        try:
            await self.uses.stop()  # what is still in memory is written first
            await self.events.stop()
            await self.upstream.aclose()
        finally:
            await self.store.stop()

    async def check_secret_key(self) -> None:
        """A wrong key is a clear start-up error (docs/reference.md §4), not garbage later."""
        sealed = await self.store.get_or_put_meta(
            KEY_CHECK_NAME, self.box.seal(KEY_CHECK_TEXT, KEY_CHECK_NAME)
        )
        try:
            self.box.unseal(sealed, KEY_CHECK_NAME)
        except SecretKeyError as exc:
            raise SecretKeyError(
                "the secret key (REGISTRAR_SECRET_KEY or REGISTRAR_SECRET_KEY_FILE) is not the "
                "one this database was created with"
            ) from exc

    def enabled_realm(self, name: str) -> RealmConfig:
        """The realm, or 404 when it is unknown or disabled."""
        realm = self.realms.get(name)
        if realm is None or not realm.enabled:
            raise NotFound(f"Realm '{name}' not found")
        return realm

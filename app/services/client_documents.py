"""Clients whose `client_id` is the URL of their metadata document
(draft-ietf-oauth-client-id-metadata-document; docs/reference.md §7).

On first sight the document is fetched (app/auth/outbound.py: the SSRF guard, no redirects, 5 s,
5 KiB), checked (app/rules/client_documents.py), run through the realm's anonymous registration
policies as an anonymous registration would be, and kept as a client row of the realm, so the
sign-in, the token endpoint and the admin views treat it like any client. The row is the cache,
shared by every process: fresh for the document's Cache-Control max-age (60 s to 24 h); the
first sight after that fetches it again, and a refetch that fails serves the stored copy for
one more such lifetime, then the client is refused until its document can be read again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.auth.callers import Caller
from app.auth.hosts import CachingResolver
from app.auth.outbound import FetchRefused, OutboundFetcher
from app.config.realm_models import MaxClients, RealmConfig
from app.errors import RegistrarError
from app.jsonio import dumps
from app.rules.client_documents import (
    BadDocument,
    cache_seconds,
    document_url_problem,
    names_document,
    read_document,
)
from app.rules.policies import (
    Candidate,
    apply_policies,
    check_known_scopes,
    check_scopes,
    names_to_resolve,
    policy_set,
)
from app.store.client_documents import ClientDocumentStore, DocumentTimes
from app.store.queries import ClientRow, Store, is_key

# how a document client registered, in the client row (and the admin views' registrationAuth)
DOCUMENT_AUTH = "document"


class DocumentRefused(Exception):
    """The client's document cannot be used; the message says why, for the user's page."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ClientDocuments:
    def __init__(
        self,
        store: Store,
        documents: ClientDocumentStore,
        fetcher: OutboundFetcher,
        resolve: CachingResolver,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._documents = documents
        self._fetcher = fetcher
        self._resolve = resolve
        self._clock = clock

    @staticmethod
    def applies(realm: RealmConfig, client_id: str) -> bool:
        """Whether `client_id` names a metadata document at this realm."""
        return realm.client_id_metadata_documents.enabled and names_document(client_id)

    async def find(self, realm: RealmConfig, client_id: str) -> ClientRow | None:
        """The client `client_id` names: a registered one, or a document's (DocumentRefused
        when its document cannot be used)."""
        if self.applies(realm, client_id):
            return await self.client(realm, client_id)
        return await self._store.get_client(realm.name, client_id) if is_key(client_id) else None

    async def client(self, realm: RealmConfig, url: str) -> ClientRow:
        config = realm.client_id_metadata_documents
        problem = document_url_problem(url, config.allowed_hosts, config.allow_loopback_http)
        if problem:
            raise DocumentRefused(problem)
        now = int(self._clock())
        times = await self._documents.times(realm.name, url)
        row = await self._store.get_client(realm.name, url) if times else None
        if row is not None and times is not None and now < times.refresh_at:
            return row
        try:
            return await self._fetch(realm, url, now, first=row is None)
        except DocumentRefused:
            if row is not None and times is not None and now < times.expires_at:
                return row  # stale on error: the stored copy until it expires
            raise

    async def _fetch(self, realm: RealmConfig, url: str, now: int, first: bool) -> ClientRow:
        config = realm.client_id_metadata_documents
        try:
            fetched = await self._fetcher.get_json(
                url, allow_loopback_http=config.allow_loopback_http, timeout=config.fetch_timeout
            )
            metadata = read_document(url, fetched.document)
        except FetchRefused as exc:
            raise DocumentRefused(f"The client's metadata document: {exc.description}") from exc
        except BadDocument as exc:
            raise DocumentRefused(str(exc)) from exc
        candidate = await self._judged(realm, metadata, fetched.address, first)
        lifetime = cache_seconds(fetched.cache_control)
        row = ClientRow(
            client_id=url,
            realm=realm.name,
            metadata_json=dumps(dict(candidate.metadata)).decode(),
            secret_sealed=None,
            rat_digest="",  # no registration access token: the document is the registration
            registration_auth=DOCUMENT_AUTH,
            enabled=candidate.enabled,
            # the user always consents the first time (docs/reference.md §7)
            consent_required=True,
            full_scope_allowed=candidate.full_scope_allowed,
            created_at=now,
            updated_at=now,
        )
        times = DocumentTimes(now, now + lifetime, now + 2 * lifetime)
        if not await self._documents.put(row, times):
            raise DocumentRefused("This client_id is a client of another realm of this server.")
        stored = await self._store.get_client(realm.name, url)
        if stored is None:  # deleted by an admin in this very moment
            raise DocumentRefused("The client was deleted.")
        return stored

    async def _judged(
        self, realm: RealmConfig, metadata: dict[str, object], address: str, first: bool
    ) -> Candidate:
        """The realm's anonymous registration policies, as they judge an anonymous registration
        sent from the document's address (trusted-hosts judges that address)."""
        caller = Caller("anonymous", host=address)
        scope = metadata.get("scope")
        try:
            check_scopes(realm, scope if isinstance(scope, str) else None, caller)
            counted = None
            if first and any(isinstance(p, MaxClients) for p in policy_set(realm, caller)):
                counted = await self._store.count_clients(realm.name)
            await self._resolve.prefetch(names_to_resolve(realm, caller))
            start = Candidate(metadata=metadata, clients_in_realm=counted)
            candidate = apply_policies(realm, "create", start, caller, self._resolve)
            check_known_scopes(realm, scope if isinstance(scope, str) else None)
        except RegistrarError as exc:
            detail = f"The realm's policies refuse this client: {exc.description}"
            raise DocumentRefused(detail) from exc
        if candidate.metadata.get("scope"):
            return candidate
        # RFC 7591 §2: without scope, the realm's default scopes (as a registration gets them)
        defaults = " ".join(realm.scopes.default)
        return Candidate(
            metadata={**candidate.metadata, "scope": defaults},
            enabled=candidate.enabled,
            consent_required=candidate.consent_required,
            full_scope_allowed=candidate.full_scope_allowed,
        )

"""`private_key_jwt` client authentication at the token endpoint (RFC 7523 §2.2, OIDC Core §9),
for registered clients and metadata document clients alike: the assertion is checked against
the client's `jwks` or `jwks_uri` (app/auth/client_assertions.py), and its `jti` is spent in the
database, so a replay is refused by every process, and of racing uses exactly one wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from app.auth.client_assertions import (
    CLOCK_SKEW,
    JWT_BEARER,
    ClientKeys,
    asserted_client_id,
    assertion_kid,
    key_set,
    verify_client_assertion,
)
from app.config.realm_models import RealmConfig
from app.errors import InvalidClient, InvalidRequest
from app.services.client_documents import ClientDocuments, DocumentRefused
from app.store.client_documents import ClientDocumentStore
from app.store.queries import ClientRow


def uses_assertion(form: Mapping[str, str]) -> bool:
    return "client_assertion" in form or "client_assertion_type" in form


class PrivateKeyJwt:
    def __init__(
        self,
        documents: ClientDocuments,
        used: ClientDocumentStore,
        keys: ClientKeys,
        issuer: Callable[[str], str],
    ) -> None:
        self._documents = documents
        self._used = used
        self._keys = keys
        self._issuer = issuer

    async def authenticate(
        self, realm: RealmConfig, form: Mapping[str, str], now: int
    ) -> ClientRow:
        """The client a token request's assertion authenticates; InvalidClient otherwise."""
        # RFC 7521 §4.2: client_assertion_type "MUST be
        # urn:ietf:params:oauth:client-assertion-type:jwt-bearer" for a JWT (RFC 7523 §2.2)
        if form.get("client_assertion_type") != JWT_BEARER:
            raise InvalidClient(f"client_assertion_type must be {JWT_BEARER}")
        assertion = form.get("client_assertion") or ""
        if not assertion:
            raise InvalidRequest("client_assertion is required")
        client_id = asserted_client_id(assertion)
        # RFC 7521 §4.2: "client_id [...] If present, the value of the "client_id" parameter
        # MUST identify the same client as is identified by the client assertion."
        if "client_id" in form and form["client_id"] != client_id:
            raise InvalidClient("client_id differs from the client the assertion names")
        try:
            row = await self._documents.find(realm, client_id)
        except DocumentRefused as exc:
            raise InvalidClient(exc.description) from exc
        if row is None or not row.enabled:
            raise InvalidClient("Invalid client credentials")
        metadata = row.metadata()
        if metadata.get("token_endpoint_auth_method") != "private_key_jwt":
            raise InvalidClient("The client is not registered for private_key_jwt")
        config = realm.client_id_metadata_documents
        if isinstance(metadata.get("jwks"), dict):
            keys = key_set(metadata["jwks"])
        elif isinstance(metadata.get("jwks_uri"), str):
            keys = await self._keys.of(
                metadata["jwks_uri"],
                assertion_kid(assertion),
                config.allow_loopback_http,
                config.fetch_timeout,
            )
        else:
            raise InvalidClient("The client has no keys (jwks or jwks_uri)")
        issuer = self._issuer(realm.name)
        audiences = (f"{issuer}/protocol/openid-connect/token", issuer)
        claims = verify_client_assertion(assertion, keys, client_id, audiences, now)
        # RFC 7523 §3 item 7: "The authorization server MAY ensure that JWTs are not replayed
        # by maintaining the set of used "jti" values for the length of time for which the JWT
        # would be considered valid based on the applicable "exp" instant."
        key = hashlib.sha256(f"{realm.name}\0{client_id}\0{claims['jti']}".encode()).hexdigest()
        if not await self._used.spend_assertion(key, int(claims["exp"]) + CLOCK_SKEW, now):
            raise InvalidClient("The client assertion was used before")
        return row

"""The cache of metadata documents (docs/reference.md §7): kept in the database for the
document's max-age, so another process uses it without fetching; fetched again after that; a
refetch that fails serves the stored copy until it expires, then the client is refused. On
SQLite and PostgreSQL, with a clock the test turns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from app.auth.hosts import CachingResolver
from app.auth.outbound import OutboundFetcher
from app.config.settings import Settings
from app.container import Container
from app.services.client_documents import ClientDocuments, DocumentRefused
from app.store.client_documents import ClientDocumentStore
from tests.document_server import DocumentServer, document_realms, document_server
from tests.inprocess import make_settings
from tests.signin_flow import CALLBACK

pytestmark = pytest.mark.anyio


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    return document_realms(tmp_path)


@pytest.fixture
def settings(tmp_path: Path, realms_dir: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, realms_dir, database_url)


@pytest.fixture
def docs() -> Iterator[DocumentServer]:
    with document_server() as server:
        yield server


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def process(container: Container, clock: Clock) -> ClientDocuments:
    """What one server process holds: its own fetcher and resolver, the shared database."""
    store = container.store
    return ClientDocuments(
        store, ClientDocumentStore(store.db), OutboundFetcher(), CachingResolver(), clock
    )


async def test_documents_are_cached_for_their_max_age_and_served_stale_on_error(
    app: Starlette, docs: DocumentServer
) -> None:
    container: Container = app.state.container
    realm = container.enabled_realm("people")
    url = docs.url("/client.json")

    def serve(name: str, **options: object) -> None:
        body = {"client_id": url, "client_name": name, "redirect_uris": [CALLBACK]}
        docs.serve("/client.json", body, headers={"Cache-Control": "max-age=120"}, **options)

    clock = Clock(1_000_000)
    one, other = process(container, clock), process(container, clock)
    serve("First")
    assert (await one.client(realm, url)).metadata()["client_name"] == "First"
    serve("Second")
    clock.now += 100  # within max-age: the stored copy, in every process, without a fetch
    assert (await other.client(realm, url)).metadata()["client_name"] == "First"
    assert docs.hits["/client.json"] == 1
    clock.now += 21  # past max-age: fetched again
    assert (await other.client(realm, url)).metadata()["client_name"] == "Second"
    assert docs.hits["/client.json"] == 2
    serve("Broken", status=500)
    clock.now += 121  # past max-age, and the refetch fails: the stored copy still serves
    assert (await one.client(realm, url)).metadata()["client_name"] == "Second"
    assert docs.hits["/client.json"] == 3
    clock.now += 120  # the stored copy has expired: refused until the document is back
    with pytest.raises(DocumentRefused, match="HTTP status 500"):
        await one.client(realm, url)
    serve("Back")
    assert (await one.client(realm, url)).metadata()["client_name"] == "Back"

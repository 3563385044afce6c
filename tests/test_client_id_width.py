"""A client id may be a metadata document's URL of up to 255 characters (docs/reference.md §7):
a PostgreSQL database made when client ids had 64 gets the wider columns at start, and such a
client signs in on both databases."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from app.store.schema import TABLES, WIDENED_COLUMNS, add_missing_columns
from tests.document_server import DocumentServer, document_server
from tests.helpers import APP_REALMS
from tests.inprocess import in_process, make_settings
from tests.signin_flow import (
    CALLBACK,
    PEOPLE,
    auth_path,
    oidc_path,
    pkce,
    post_form,
    redirect_query,
)
from tests.test_client_documents import DOCUMENTS, document, params


@pytest.fixture
def docs() -> Iterator[DocumentServer]:
    with document_server() as server:
        yield server


def test_an_older_postgresql_database_gets_wider_client_ids(pg_url: str) -> None:
    engine = create_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        TABLES.create_all(engine)
        with engine.begin() as conn:
            for table, column, _ in WIDENED_COLUMNS:
                conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(64)"))
        add_missing_columns(engine)
        add_missing_columns(engine)  # idempotent: a second start changes nothing
        for table, column, length in WIDENED_COLUMNS:
            found = {c["name"]: c for c in inspect(engine).get_columns(table)}[column]
            assert getattr(found["type"], "length", None) == length == 255, table
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO signin_consent (realm, username, client_id, scope) "
                    "VALUES ('r', 'alice', :id, 'openid')"
                ),
                {"id": "https://app.example.org/" + "c" * 200},
            )
    finally:
        engine.dispose()


@pytest.mark.anyio
async def test_a_long_document_url_signs_in(
    tmp_path: Path, database_url: str, docs: DocumentServer
) -> None:
    realms = tmp_path / "realms"
    shutil.copytree(APP_REALMS, realms)
    (realms / "people.yaml").write_text(PEOPLE + DOCUMENTS)
    path = "/clients/" + "long-name-" * 20 + "client.json"
    url = docs.url(path)
    docs.serve(path, document(url))
    assert 200 < len(url) <= 255
    settings = make_settings(tmp_path, realms, database_url)
    verifier, challenge = pkce()
    async with in_process(settings) as http:
        login = await http.get(auth_path(), params=params(url, challenge))
        consent = await post_form(http, login, username="alice", password="alice-password")
        code = redirect_query(await post_form(http, consent, accept="yes"))["code"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": url,
            "code_verifier": verifier,
        }
        tokens = await http.post(oidc_path("token"), data=form)
    assert tokens.status_code == 200, tokens.text
    assert "refresh_token" in tokens.json()

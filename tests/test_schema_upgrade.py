"""A database made by an earlier version, before the client table had `tokens_valid_after`,
starts and works: the column is added at start, also when several processes start on it at
once, on SQLite and PostgreSQL (docs/reference.md §1, Databases)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.helpers import JSON, bearer, dcr_path, token_path
from tests.live import LiveServer, free_port, start_server

pytestmark = pytest.mark.live

INTROSPECT = "/realms/open/protocol/openid-connect/token/introspect"
VIEWER = ("viewer", "viewer-secret")


def _execute(database_url: str, sql: str) -> list[tuple[object, ...]]:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute(sql).fetchall())
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []


def _client_columns(database_url: str) -> set[str]:
    if database_url.startswith("sqlite:///"):
        return {str(row[1]) for row in _execute(database_url, "PRAGMA table_info(client)")}
    rows = _execute(
        database_url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'client'",
    )
    return {str(row[0]) for row in rows}


def _token(http: httpx.Client, registered: JSON) -> httpx.Response:
    return http.post(
        token_path(),
        data={"grant_type": "client_credentials"},
        auth=(registered["client_id"], registered["client_secret"]),
    )


def _active(http: httpx.Client, token: str) -> bool:
    response = http.post(INTROSPECT, data={"token": token}, auth=VIEWER)
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


def _set_enabled(http: httpx.Client, client_id: str, enabled: bool) -> None:
    admin = http.post(
        token_path(), data={"grant_type": "client_credentials"}, auth=("admin", "admin-secret")
    )
    headers = bearer(admin.json()["access_token"])
    path = f"/admin/realms/open/clients/{client_id}"
    assert http.put(path, json={"enabled": enabled}, headers=headers).status_code == 204


def test_a_database_without_the_not_before_column_starts_and_works(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    port = free_port()  # the same public URL after the restart: the old token's issuer
    server = start_server(tmp_path, realms_dir, database_url, port=port)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            created = http.post(dcr_path(), json={"grant_types": ["client_credentials"]})
            assert created.status_code == 201, created.text
            registered: JSON = created.json()
            issued = _token(http, registered)
            assert issued.status_code == 200, issued.text
            old_token: str = issued.json()["access_token"]
    finally:
        server.stop()
    # the client table as an earlier version made it
    _execute(database_url, "ALTER TABLE client DROP COLUMN tokens_valid_after")
    _execute(database_url, "ALTER TABLE client DROP COLUMN created_by_admin")
    assert not {"tokens_valid_after", "created_by_admin"} & _client_columns(database_url)

    # two servers of two workers each start on it at once
    with ThreadPoolExecutor(2) as pool:
        ports = [port, free_port()]
        servers: list[LiveServer] = list(
            pool.map(lambda p: start_server(tmp_path, realms_dir, database_url, 2, p), ports)
        )
    try:
        with httpx.Client(base_url=servers[0].url, timeout=10) as http:
            path = httpx.URL(registered["registration_client_uri"]).path
            read = http.get(path, headers=bearer(registered["registration_access_token"]))
            assert read.status_code == 200, read.text
            assert _active(http, old_token)
            _set_enabled(http, registered["client_id"], False)
            assert not _active(http, old_token)
            _set_enabled(http, registered["client_id"], True)
            assert not _active(http, old_token)
            fresh = _token(http, registered)
            assert fresh.status_code == 200, fresh.text
            assert _active(http, fresh.json()["access_token"])
        assert {"tokens_valid_after", "created_by_admin"} <= _client_columns(database_url)
        for server in servers:
            assert "Traceback" not in server.log.read_text()
    finally:
        for server in servers:
            server.stop()

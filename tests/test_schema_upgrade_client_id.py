"""A database made before clients could choose their clientId (no public_client_id column, no
unique index) starts and works: the column is added and filled, the index made, also when two
servers start on it at once, on SQLite and PostgreSQL (docs/reference.md §1, Databases)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import bearer, dcr_path
from tests.live import LiveServer, free_port, start_server
from tests.test_schema_upgrade import _client_columns, _execute

pytestmark = pytest.mark.live

DEFAULT = "/realms/open/clients-registrations/default"


def test_a_database_without_chosen_client_ids_starts_and_works(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    port = free_port()
    server = start_server(tmp_path, realms_dir, database_url, port=port)
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            created = http.post(dcr_path(), json={"redirect_uris": ["https://rp.example.org/cb"]})
            assert created.status_code == 201, created.text
            registered = created.json()
    finally:
        server.stop()
    # the client table as an earlier version made it
    _execute(database_url, "DROP INDEX ux_client_public_id")
    _execute(database_url, "ALTER TABLE client DROP COLUMN public_client_id")
    assert "public_client_id" not in _client_columns(database_url)

    with ThreadPoolExecutor(2) as pool:
        ports = [port, free_port()]
        servers: list[LiveServer] = list(
            pool.map(lambda p: start_server(tmp_path, realms_dir, database_url, 1, p), ports)
        )
    try:
        with httpx.Client(base_url=servers[1].url, timeout=10) as http:
            rat = bearer(registered["registration_access_token"])
            client_id = registered["client_id"]
            read = http.get(f"{dcr_path()}/{client_id}", headers=rat)
            assert read.status_code == 200, read.text
            shown = http.get(f"{DEFAULT}/{client_id}", headers=rat)
            assert shown.status_code == 200, shown.text
            assert shown.json()["id"] == shown.json()["clientId"] == client_id
            assert http.post(DEFAULT, json={"clientId": "chosen"}).status_code == 201
            again = http.post(DEFAULT, json={"clientId": "chosen"})
            assert again.status_code == 400, again.text
        assert "public_client_id" in _client_columns(database_url)
        for running in servers:
            assert "Traceback" not in running.log.read_text()
    finally:
        for running in servers:
            running.stop()

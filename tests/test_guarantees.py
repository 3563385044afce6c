"""docs/reference.md §4 against real server processes: max-clients under a race, durability across
kill -9, hot reload in every process, secrets absent from the database and the logs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import assert_error, error_of, wait_until
from tests.live import LiveServer, free_port, start_server

pytestmark = pytest.mark.live

DCR = "/realms/{realm}/clients-registrations/openid-connect"
BODY = {"client_name": "race", "redirect_uris": ["https://app.example.org/cb"]}


async def _register_many(urls: list[str], realm: str, n: int) -> list[int]:
    """The statuses of `n` concurrent registrations; each 403 must be the max-clients policy's
    insufficient_scope."""
    async with httpx.AsyncClient(timeout=30) as http:
        calls = [
            http.post(urls[i % len(urls)] + DCR.format(realm=realm), json=BODY) for i in range(n)
        ]
        responses = await asyncio.gather(*calls)
    for refused in (r for r in responses if r.status_code == 403):
        assert error_of(refused) == "insufficient_scope", refused.text
    return [r.status_code for r in responses]


def _servers(
    tmp_path: Path, realms_dir: Path, database_url: str, processes: int
) -> list[LiveServer]:
    if database_url.startswith("sqlite"):
        return [start_server(tmp_path, realms_dir, database_url, workers=2)]
    return [start_server(tmp_path, realms_dir, database_url) for _ in range(processes)]


@pytest.mark.anyio
async def test_max_clients_holds_under_concurrent_anonymous_registration(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    (realms_dir / "race.yaml").write_text(
        "registration:\n"
        "  anonymous:\n"
        "    - type: trusted-hosts\n"
        "      trusted-hosts: ['127.0.0.1']\n"
        "      client-uris-must-match: false\n"
        "    - type: max-clients\n"
        "      max-clients: 10\n"
    )
    servers = _servers(tmp_path, realms_dir, database_url, processes=4)
    try:
        urls = [s.url for s in servers]
        statuses = await _register_many(urls, "race", 100)
        assert statuses.count(201) == 10
        assert set(statuses) == {201, 403}
        # later waves find the realm full too
        for _trial in range(2):
            assert set(await _register_many(urls, "race", 100)) == {403}
    finally:
        for server in servers:
            server.stop()


def _register_until_killed(server: LiveServer, answered: list[dict[str, str]]) -> None:
    with httpx.Client(timeout=5) as http:
        for _ in range(5000):
            try:
                reply = http.post(server.url + DCR.format(realm="open"), json=BODY)
            except httpx.HTTPError:
                return
            if reply.status_code == 201:
                answered.append(reply.json())


def test_every_answered_registration_survives_kill_9(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    answered: list[dict[str, str]] = []
    port = free_port()
    for _trial in range(2):
        server = start_server(tmp_path, realms_dir, database_url, port=port)
        worker = threading.Thread(target=_register_until_killed, args=(server, answered))
        worker.start()
        # the point of the test: a kill at a random moment of a stream of registrations
        time.sleep(random.uniform(0.8, 1.6))
        server.stop(kill=True)  # SIGKILL mid-stream
        worker.join(timeout=30)
    assert len(answered) > 10
    server = start_server(tmp_path, realms_dir, database_url, port=port)
    try:
        with httpx.Client(timeout=10) as http:
            for client in answered:
                uri = client["registration_client_uri"]
                got = http.get(
                    uri, headers={"Authorization": f"Bearer {client['registration_access_token']}"}
                )
                assert got.status_code == 200, uri
                assert got.json()["client_secret"] == client["client_secret"]
    finally:
        server.stop()


def test_realm_file_edits_reach_every_process_within_5_seconds(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    server = start_server(tmp_path, realms_dir, sqlite_url, workers=2)
    try:
        fresh = server.url + "/realms/fresh/.well-known/openid-configuration"
        with httpx.Client(timeout=5) as http:

            def everywhere(status: int) -> bool:
                """40 answers in a row with `status`: many requests land on both workers."""
                return all(http.get(fresh).status_code == status for _ in range(40))

            assert_error(http.get(fresh), 404, "not_found")
            for edit, status, what in [
                ("scopes:\n  default: [openid]\n", 200, "the new realm"),
                ("enabled: false\n", 404, "the realm disabled"),
            ]:
                edited = time.monotonic()
                (realms_dir / "fresh.yaml").write_text(edit)
                wait_until(
                    functools.partial(everywhere, status),
                    timeout=5,
                    what=f"every worker to see {what}",
                )
                assert time.monotonic() - edited < 5, f"every worker saw {what} only after 5 s"
            assert_error(http.get(fresh), 404, "not_found")
    finally:
        server.stop()


def _dump(database_url: str) -> str:
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            return "\n".join(db.iterdump())
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run(
        ["pg_dump", "--data-only", plain], capture_output=True, text=True, check=True
    ).stdout


def test_database_and_logs_hold_no_token_or_secret(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    server = start_server(
        tmp_path, realms_dir, database_url, extra_env={"REGISTRAR_LOG_LEVEL": "debug"}
    )
    secrets: list[str] = []
    try:
        with httpx.Client(timeout=10) as http:
            admin = http.post(
                server.url + "/realms/open/protocol/openid-connect/token",
                data={"grant_type": "client_credentials"},
                auth=("admin", "admin-secret"),
            ).json()["access_token"]
            iat = http.post(
                server.url + "/admin/realms/open/clients-initial-access",
                json={"count": 2},
                headers={"Authorization": f"Bearer {admin}"},
            ).json()["token"]
            made = http.post(
                server.url + DCR.format(realm="open"),
                json=BODY,
                headers={"Authorization": f"Bearer {iat}"},
            ).json()
            rotated = http.put(
                made["registration_client_uri"],
                json={**BODY, "client_id": made["client_id"]},
                headers={"Authorization": f"Bearer {made['registration_access_token']}"},
            ).json()
            secrets = [
                admin, iat, made["client_secret"], made["registration_access_token"],
                rotated["registration_access_token"], "admin-secret",
            ]  # fmt: skip
    finally:
        server.stop()
    dump = _dump(database_url)
    log = server.log.read_text()
    for secret in secrets:
        assert secret not in dump
        assert secret not in log
    assert made["client_id"] in dump  # the dump is real


def test_wrong_secret_key_is_a_clear_start_up_error(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    start_server(tmp_path, realms_dir, sqlite_url).stop()
    other_key = "A" * 43
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "iat",
            "list",
            "--realm",
            "open",
            "--realms-dir",
            str(realms_dir),
            "--database-url",
            sqlite_url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "REGISTRAR_SECRET_KEY": other_key},
        check=False,
    )
    assert result.returncode == 2
    assert "secret key" in result.stderr
    assert "Traceback" not in result.stderr

"""Faults against real server processes: PostgreSQL going away and coming back, SIGTERM while
requests are in flight."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import admin_sql, database_name
from tests.helpers import async_wait_until, wait_until
from tests.live import LiveServer, start_server

pytestmark = pytest.mark.live

DCR = "/realms/open/clients-registrations/openid-connect"
BODY = {"client_name": "fault", "redirect_uris": ["https://app.example.org/cb"]}


def _terminate_backends(name: str) -> None:
    admin_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


@pytest.fixture
def pg_server(tmp_path: Path, realms_dir: Path, pg_url: str) -> Iterator[LiveServer]:
    server = start_server(tmp_path, realms_dir, pg_url)
    try:
        yield server
    finally:
        admin_sql(f'ALTER DATABASE "{database_name(pg_url)}" ALLOW_CONNECTIONS true')
        server.stop()


def test_killed_database_connections_are_replaced_without_errors(
    pg_server: LiveServer, pg_url: str
) -> None:
    with httpx.Client(base_url=pg_server.url, timeout=10) as http:
        made = http.post(DCR, json=BODY)
        assert made.status_code == 201
        _terminate_backends(database_name(pg_url))
        # the pool notices the dead connections (pre-ping) and opens new ones
        again = http.get(
            made.json()["registration_client_uri"],
            headers={"Authorization": f"Bearer {made.json()['registration_access_token']}"},
        )
        assert again.status_code == 200
        assert http.post(DCR, json=BODY).status_code == 201


def test_database_refusing_connections_gives_503_then_recovers(
    pg_server: LiveServer, pg_url: str
) -> None:
    name = database_name(pg_url)
    with httpx.Client(base_url=pg_server.url, timeout=15) as http:
        assert http.post(DCR, json=BODY).status_code == 201
        admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _terminate_backends(name)
        for _ in range(5):
            refused = http.post(DCR, json=BODY)
            assert refused.status_code == 503
            assert refused.json()["error"] == "temporarily_unavailable"
            assert refused.headers["Retry-After"].isdigit()
            assert "Traceback" not in refused.text
        health = http.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"  # /health's own body, not an error
        admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        wait_until(
            lambda: http.get("/health").status_code == 200,
            timeout=10,
            what="the server to recover by itself",
            interval=0.2,
        )
        assert http.post(DCR, json=BODY).status_code == 201
    assert "Traceback" not in pg_server.log.read_text()


async def _register(http: httpx.AsyncClient, url: str) -> httpx.Response | None:
    try:
        return await http.post(url + DCR, json=BODY)
    except httpx.TransportError:
        return None  # not accepted before the listener closed


@pytest.mark.anyio
async def test_sigterm_lets_in_flight_registrations_finish_durably(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> None:
    server = start_server(tmp_path, realms_dir, database_url)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            calls = [asyncio.create_task(_register(http, server.url)) for _ in range(400)]
            # SIGTERM once the server is answering, while most requests are still in flight
            await async_wait_until(
                lambda: any(call.done() for call in calls),
                timeout=10,
                what="a first answer",
                interval=0.01,
            )
            server.process.send_signal(signal.SIGTERM)
            answers = await asyncio.gather(*calls)
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        server.stop(kill=True)  # only if the test failed before the server was done
    assert "Finished server process" in server.log.read_text()
    made = [a.json() for a in answers if a is not None and a.status_code == 201]
    assert all(a is None or a.status_code == 201 for a in answers)
    assert made
    restarted = start_server(tmp_path, realms_dir, database_url)
    try:
        with httpx.Client(timeout=10) as http:
            for client in made:
                got = http.get(
                    client["registration_client_uri"].replace(server.url, restarted.url),
                    headers={"Authorization": f"Bearer {client['registration_access_token']}"},
                )
                assert got.status_code == 200
    finally:
        restarted.stop()

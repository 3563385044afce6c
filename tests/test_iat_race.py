"""docs/reference.md §4: an initial access token with count N registers at most N clients, however
many requests race for it, across every server process sharing the database — 100 racers on a
count-3 token against real servers: SQLite with two workers, PostgreSQL with four server
processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import admin, async_wait_until, bearer
from tests.live import LiveServer, free_port, running_server, start_server

pytestmark = [pytest.mark.live, pytest.mark.anyio]

RACERS = 100
COUNT = 3
DCR = "/realms/open/clients-registrations/openid-connect"
IAT = "/admin/realms/open/clients-initial-access"
CLIENTS = "/admin/realms/open/clients"


async def race(urls: list[str], count: int = COUNT) -> None:
    """100 registrations on one count-`count` token, spread over `urls`: exactly `count` win,
    everywhere."""
    limits = httpx.Limits(max_connections=RACERS * 2, max_keepalive_connections=RACERS * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        headers = await admin(http, base_url=urls[0])
        created = await http.post(urls[0] + IAT, json={"count": count}, headers=headers)
        assert created.status_code == 200, created.text
        token: str = created.json()["token"]
        start = asyncio.Event()
        waiting: list[int] = []

        async def register(n: int) -> httpx.Response:
            body: dict[str, Any] = {
                "redirect_uris": ["https://rp.example.org/cb"],
                "client_name": f"racer {n}",
            }
            waiting.append(n)
            await start.wait()
            return await http.post(urls[n % len(urls)] + DCR, json=body, headers=bearer(token))

        racers = [asyncio.create_task(register(n)) for n in range(RACERS)]
        await async_wait_until(
            lambda: len(waiting) == RACERS, timeout=5, what="every racer at the start"
        )
        start.set()
        responses = await asyncio.gather(*racers)

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] * count + [401] * (RACERS - count), statuses
        for response in responses:
            if response.status_code == 401:
                assert response.json()["error"] == "invalid_token"
        winners = {r.json()["client_id"] for r in responses if r.status_code == 201}
        for url in urls:
            listed = await http.get(url + CLIENTS, headers=await admin(http, base_url=url))
            assert listed.status_code == 200, listed.text
            assert {row["clientId"] for row in listed.json()} == winners
            tokens = await http.get(url + IAT, headers=await admin(http, base_url=url))
            assert [row["remainingCount"] for row in tokens.json()] == [0]


@pytest.fixture
def sqlite_two_workers(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[LiveServer]:
    with running_server(tmp_path, realms_dir, sqlite_url, workers=2) as server:
        yield server


@pytest.fixture
def postgresql_four_servers(
    tmp_path: Path, realms_dir: Path, pg_url: str
) -> Iterator[list[LiveServer]]:
    servers: list[LiveServer] = []
    try:
        for _ in range(4):
            servers.append(start_server(tmp_path, realms_dir, pg_url, port=free_port()))
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize("trial", range(3))
async def test_count_3_token_wins_3_of_100_on_sqlite_with_two_workers(
    sqlite_two_workers: LiveServer, trial: int
) -> None:
    await race([sqlite_two_workers.url])


@pytest.mark.parametrize("trial", range(3))
async def test_count_3_token_wins_3_of_100_on_postgresql_with_four_servers(
    postgresql_four_servers: list[LiveServer], trial: int
) -> None:
    await race([server.url for server in postgresql_four_servers])


async def test_count_50_token_wins_50_of_100_on_postgresql_with_four_servers(
    postgresql_four_servers: list[LiveServer],
) -> None:
    """Registrations of one token share commits on PostgreSQL (app.store.batching); a group that
    asks for more uses than remain is retried one by one, so exactly 50 still win."""
    await race([server.url for server in postgresql_four_servers], count=50)

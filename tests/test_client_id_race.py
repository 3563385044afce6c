"""A caller-chosen clientId is unique in its realm however many registrations race for it:
50 racers for one clientId through …/clients-registrations/default, against real server
processes (two of them) on SQLite and on PostgreSQL — exactly one wins, the others are told
"Client Identifier in use" (docs/reference.md, "Keycloak's representation")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import admin, async_wait_until
from tests.live import LiveServer, free_port, start_server

pytestmark = [pytest.mark.live, pytest.mark.anyio]

RACERS = 50
DEFAULT = "/realms/open/clients-registrations/default"
CLIENTS = "/admin/realms/open/clients"


@pytest.fixture
def two_servers(tmp_path: Path, realms_dir: Path, database_url: str) -> Iterator[list[LiveServer]]:
    servers: list[LiveServer] = []
    try:
        for _ in range(2):
            servers.append(start_server(tmp_path, realms_dir, database_url, port=free_port()))
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_one_of_50_racers_gets_a_chosen_client_id(two_servers: list[LiveServer]) -> None:
    urls = [server.url for server in two_servers]
    limits = httpx.Limits(max_connections=RACERS * 2, max_keepalive_connections=RACERS * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        start = asyncio.Event()
        waiting: list[int] = []

        async def register(n: int) -> httpx.Response:
            waiting.append(n)
            await start.wait()
            body = {"clientId": "contested", "name": f"racer {n}"}
            return await http.post(urls[n % len(urls)] + DEFAULT, json=body)

        racers = [asyncio.create_task(register(n)) for n in range(RACERS)]
        await async_wait_until(
            lambda: len(waiting) == RACERS, timeout=5, what="every racer at the start"
        )
        start.set()
        responses = await asyncio.gather(*racers)

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [400] * (RACERS - 1), statuses
        for response in responses:
            if response.status_code == 400:
                assert response.json() == {
                    "error": "invalid_client_metadata",
                    "error_description": "Client Identifier in use",
                }
        (winner,) = [r.json() for r in responses if r.status_code == 201]
        for url in urls:
            listed = await http.get(
                url + CLIENTS,
                params={"clientId": "contested"},
                headers=await admin(http, base_url=url),
            )
            assert [(c["id"], c["name"]) for c in listed.json()] == [(winner["id"], winner["name"])]

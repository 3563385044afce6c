"""docs/reference.md §4: with rotation on, of any number of concurrent PUTs carrying one
registration access token exactly one succeeds — on a real server with two workers, on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import JSON, bearer, dcr_path, updatable
from tests.live import LiveServer, running_server

pytestmark = pytest.mark.live

RACERS = 50
TRIALS = 3


@pytest.fixture
def server(tmp_path: Path, realms_dir: Path, database_url: str) -> Iterator[LiveServer]:
    with running_server(tmp_path, realms_dir, database_url, workers=2) as live:
        yield live


async def race_puts(http: httpx.AsyncClient, registered: JSON, rat: str) -> list[httpx.Response]:
    path = httpx.URL(registered["registration_client_uri"]).path
    bodies = [{**updatable(registered), "client_name": f"racer {i}"} for i in range(RACERS)]
    return list(
        await asyncio.gather(*(http.put(path, json=body, headers=bearer(rat)) for body in bodies))
    )


@pytest.mark.anyio
async def test_exactly_one_of_concurrent_puts_with_one_rat_wins(server: LiveServer) -> None:
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
        created = await http.post(dcr_path(), json={"redirect_uris": ["https://rp.example.org/cb"]})
        assert created.status_code == 201, created.text
        registered: JSON = created.json()
        rat: str = registered["registration_access_token"]
        for trial in range(TRIALS):
            responses = await race_puts(http, registered, rat)
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [200] + [401] * (RACERS - 1), (trial, statuses)
            for response in responses:
                if response.status_code == 401:
                    assert response.json()["error"] == "invalid_token"
                    assert response.headers["www-authenticate"].startswith("Bearer")
            winner: JSON = next(r.json() for r in responses if r.status_code == 200)
            assert winner["registration_access_token"] != rat
            rat = winner["registration_access_token"]
            # the stored client is the winner's, and only the winner's new RAT reads it
            read = await http.get(
                httpx.URL(registered["registration_client_uri"]).path, headers=bearer(rat)
            )
            assert read.status_code == 200, read.text
            assert read.json()["client_name"] == winner["client_name"]

"""An admin's disable is never undone by a client's own update racing it (docs/reference.md §4):
on a real server with two workers, on SQLite and PostgreSQL, RFC 7592 PUTs of the client (with
its RAT, and by an admin bearer) race `PUT /admin/realms/{realm}/clients/{id} {"enabled": false}`,
and afterwards the client is disabled every time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import JSON, admin, bearer, clients_path, dcr_path, updatable
from tests.live import LiveServer, start_server

pytestmark = pytest.mark.live

TRIALS = 150
RAT_PUTS = 3  # per trial, all with the client's one RAT: at most one of them wins
DELAYS = (0.0, 0.0, 0.001, 0.002, 0.004)  # seconds before a request is sent


@pytest.fixture
def server(tmp_path: Path, realms_dir: Path, database_url: str) -> Iterator[LiveServer]:
    live = start_server(tmp_path, realms_dir, database_url, workers=2)
    try:
        yield live
    finally:
        live.stop()


async def _after(delay: float, request: Awaitable[httpx.Response]) -> httpx.Response:
    await asyncio.sleep(delay)
    return await request


async def _trial(http: httpx.AsyncClient, headers: dict[str, str], trial: int) -> None:
    created = await http.post(dcr_path(), json={"redirect_uris": ["https://rp.example.org/cb"]})
    assert created.status_code == 201, created.text
    registered: JSON = created.json()
    path = httpx.URL(registered["registration_client_uri"]).path
    rat = bearer(registered["registration_access_token"])
    body = {**updatable(registered), "client_name": f"trial {trial}"}
    disable = http.put(
        f"{clients_path()}/{registered['client_id']}", json={"enabled": False}, headers=headers
    )
    # the disable is sent a little before, with or a little after the client's updates
    racers = [http.put(path, json=body, headers=rat) for _ in range(RAT_PUTS)]
    racers.append(http.put(path, json=body, headers=headers))
    responses = await asyncio.gather(
        *(_after(random.choice(DELAYS), request) for request in [disable, *racers])
    )
    assert responses[0].status_code == 204, responses[0].text
    for response in responses[1 : 1 + RAT_PUTS]:
        # 200, or 401 invalid_token: a rotated-out RAT, or the client is disabled by then
        assert response.status_code in (200, 401), response.text
        if response.status_code == 401:
            assert response.json()["error"] == "invalid_token"
    assert responses[-1].status_code == 200, responses[-1].text
    shown = await http.get(f"{clients_path()}/{registered['client_id']}", headers=headers)
    assert shown.json()["enabled"] is False, f"trial {trial}: the disable was lost"


@pytest.mark.anyio
async def test_admin_disable_survives_racing_client_updates(server: LiveServer) -> None:
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:
        headers = await admin(http)
        lost = []
        for trial in range(TRIALS):
            try:
                await _trial(http, headers, trial)
            except AssertionError as exc:
                lost.append(str(exc).splitlines()[0])
        assert not lost, f"{len(lost)} of {TRIALS} trials failed: {lost[:5]}"

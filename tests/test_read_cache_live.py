"""docs/reference.md §4 with every worker's client rows cached (app/store/read_cache.py): on a
real server with two workers, once a write is answered, no worker answers from what it read
before — a rotated registration access token, a revoked access token, a deleted client — on
SQLite (where the cache lives) and PostgreSQL.

Each round first reads through many connections at once, so that both workers hold the rows,
then writes through one connection and at once reads through all of them again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import JSON, basic, bearer, dcr_path, token_path, updatable
from tests.live import LiveServer, running_server

pytestmark = [pytest.mark.live, pytest.mark.anyio]

CONNECTIONS = 16
READS = 32  # per burst, over every connection
ROUNDS = 4


@pytest.fixture
def server(tmp_path: Path, realms_dir: Path, database_url: str) -> Iterator[LiveServer]:
    with running_server(tmp_path, realms_dir, database_url, workers=2) as live:
        yield live


async def burst(send: Callable[[], Awaitable[httpx.Response]]) -> list[httpx.Response]:
    return list(await asyncio.gather(*(send() for _ in range(READS))))


async def test_no_worker_answers_from_a_row_read_before_a_write(server: LiveServer) -> None:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as http:
        for round_ in range(ROUNDS):
            await one_round(http, round_)


async def one_round(http: httpx.AsyncClient, round_: int) -> None:
    created = await http.post(
        dcr_path(),
        json={
            "client_name": f"round {round_}",
            "grant_types": ["client_credentials"],
            "response_types": [],
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    assert created.status_code == 201, created.text
    registered: JSON = created.json()
    path = httpx.URL(registered["registration_client_uri"]).path
    old_rat = registered["registration_access_token"]
    auth = basic(registered["client_id"], registered["client_secret"])

    def read(rat: str) -> Awaitable[httpx.Response]:
        return http.get(path, headers=bearer(rat))

    def token() -> Awaitable[httpx.Response]:
        return http.post(
            token_path(),
            data={"grant_type": "client_credentials"},
            headers={"Authorization": auth},
        )

    issued = await token()
    assert issued.status_code == 200, issued.text
    access = issued.json()["access_token"]

    def introspect() -> Awaitable[httpx.Response]:
        return http.post(
            token_path() + "/introspect",
            data={"token": access},
            headers={"Authorization": auth},
        )

    # every worker reads the row, and the token's revocation, into its cache
    assert {r.status_code for r in await burst(lambda: read(old_rat))} == {200}
    assert {r.status_code for r in await burst(token)} == {200}
    assert {r.json()["active"] for r in await burst(introspect)} == {True}

    # a rotating update: the old RAT is refused everywhere, the new one read everywhere
    body = {**updatable(registered), "client_name": f"renamed {round_}"}
    updated = await http.put(path, json=body, headers=bearer(old_rat))
    assert updated.status_code == 200, updated.text
    new_rat = updated.json()["registration_access_token"]
    assert {r.status_code for r in await burst(lambda: read(old_rat))} == {401}
    reads = await burst(lambda: read(new_rat))
    assert {(r.status_code, r.json()["client_name"]) for r in reads} == {(200, f"renamed {round_}")}

    # RFC 7009 revocation: the token is inactive everywhere at once
    revoked = await http.post(
        token_path().removesuffix("/token") + "/revoke",
        data={"token": access},
        headers={"Authorization": auth},
    )
    assert revoked.status_code == 200, revoked.text
    assert {r.json()["active"] for r in await burst(introspect)} == {False}

    # a deleted client neither reads nor gets tokens anywhere
    deleted = await http.delete(path, headers=bearer(new_rat))
    assert deleted.status_code == 204, deleted.text
    assert {r.status_code for r in await burst(lambda: read(new_rat))} == {401}
    assert {r.status_code for r in await burst(token)} == {401}

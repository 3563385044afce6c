"""docs/reference.md §7: a client assertion's `jti` is spent once, in the database: of
concurrent token requests carrying one assertion, at a real server with two workers, exactly
one gets a token — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.assertions import assertion, assertion_form, new_key, public_jwks
from tests.helpers import dcr_path, token_path
from tests.live import LiveServer, running_server

pytestmark = pytest.mark.live

RACERS = 20


@pytest.fixture
def server(tmp_path: Path, realms_dir: Path, database_url: str) -> Iterator[LiveServer]:
    with running_server(tmp_path, realms_dir, database_url, workers=2) as live:
        yield live


@pytest.mark.anyio
async def test_exactly_one_of_concurrent_uses_of_an_assertion_wins(server: LiveServer) -> None:
    key = new_key("ES256")
    limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as http:
        created = await http.post(
            dcr_path(),
            json={
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": public_jwks(key),
            },
        )
        assert created.status_code == 201, created.text
        client_id = created.json()["client_id"]
        audience = f"{server.url}/realms/open/protocol/openid-connect/token"
        for trial in range(2):
            token = assertion(key, client_id, audience, alg="ES256")
            form = assertion_form(token, grant_type="client_credentials")
            responses = await asyncio.gather(
                *(http.post(token_path(), data=form) for _ in range(RACERS))
            )
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [200] + [401] * (RACERS - 1), (trial, statuses)
            for response in responses:
                if response.status_code == 401:
                    assert response.json()["error"] == "invalid_client"

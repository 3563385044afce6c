"""Keycloak's adapter configuration, as `kcreg get CLIENT -e install` asks for it:
GET /realms/{realm}/clients-registrations/install/{client_id} with the client's RAT or a bearer."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import admin, bearer, rat_of, register

pytestmark = pytest.mark.anyio


def install_path(client_id: str, realm: str = "open") -> str:
    return f"/realms/{realm}/clients-registrations/install/{client_id}"


async def test_a_confidential_clients_adapter_configuration(client: httpx.AsyncClient) -> None:
    registered = await register(client)
    response = await client.get(
        install_path(registered["client_id"]), headers=bearer(rat_of(registered))
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "realm": "open",
        "auth-server-url": "http://testserver/",
        "ssl-required": "external",
        "resource": registered["client_id"],
        "credentials": {"secret": registered["client_secret"]},
        "confidential-port": 0,
    }


async def test_a_public_clients_adapter_configuration(client: httpx.AsyncClient) -> None:
    registered = await register(client, token_endpoint_auth_method="none")
    response = await client.get(
        install_path(registered["client_id"]), headers=bearer(rat_of(registered))
    )
    shown = response.json()
    assert shown["public-client"] is True
    assert "credentials" not in shown


async def test_who_may_read_it(client: httpx.AsyncClient) -> None:
    registered, other = await register(client), await register(client)
    path = install_path(registered["client_id"])
    viewer = await client.get(path, headers=await admin(client, name="viewer"))
    assert viewer.json()["credentials"] == {"secret": "**********"}
    nobody = await client.get(path)
    assert nobody.status_code == 401
    assert nobody.json()["error"] == "invalid_token"
    foreign = await client.get(path, headers=bearer(rat_of(other)))
    assert foreign.status_code == 401
    assert foreign.json()["error"] == "invalid_token"
